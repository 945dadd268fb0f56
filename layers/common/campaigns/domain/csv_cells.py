"""CSV cells a spreadsheet cannot run as formulas.

Excel, LibreOffice and Google Sheets treat a cell that starts with `=`, `+`, `-` or
`@` (and, in some, a tab or carriage return) as a formula, so a delivery's error
text or a message id could run `=HYPERLINK(...)` or a DDE command on the
reader's machine. Such a cell is written with a leading apostrophe (OWASP's
advice): spreadsheets show the text, and a reader sees that it was changed.

A phone number in E.164 (`+` and 7 to 15 digits, which is how every number is
stored) is left as it is: with no letters, operators or references, a spreadsheet
can at most read it as the number itself, never run anything. It stays exactly the
stored number, so an export's rows match the deliveries they came from.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def safe_cell(value: object) -> str:
    """`value` as a CSV cell no spreadsheet evaluates; None is an empty cell."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _E164.fullmatch(text):
        return "'" + text
    return text


__all__ = ["FORMULA_STARTS", "safe_cell"]
