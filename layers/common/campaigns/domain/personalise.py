"""Message personalisation: `{Name}` in any letter case becomes the contact's name, and
a campaign that asks for it ends with the opt-out footer on a line of its own."""

from __future__ import annotations

import re

NAME_PLACEHOLDER = re.compile(r"\{name\}", re.IGNORECASE)
# Between the message and its footer: a blank line, so the footer reads apart from it.
FOOTER_SEPARATOR = "\n\n"


def display_name(first_name: str | None, default_name: str) -> str:
    """The contact's trimmed first name, or the campaign's default when it is missing or blank."""
    name = (first_name or "").strip()
    return name or default_name


def render_message(
    template: str, first_name: str | None, default_name: str, footer: str | None = None
) -> str:
    """Replace every `{Name}` (case-insensitive) in one pass, then add `footer`, if any.

    The replacement is a function, so a name that itself contains `{Name}` or
    backslashes is inserted literally and never expanded again; nor is the footer.
    """
    name = display_name(first_name, default_name)
    return with_footer(NAME_PLACEHOLDER.sub(lambda _match: name, template), footer)


def with_footer(text: str, footer: str | None) -> str:
    """`text` ending with `footer` on a line of its own (trailing blank space of the
    text does not pile up before it); `text` itself when there is no footer."""
    footer = (footer or "").strip()
    if not footer:
        return text
    return f"{text.rstrip()}{FOOTER_SEPARATOR}{footer}"


__all__ = ["FOOTER_SEPARATOR", "NAME_PLACEHOLDER", "display_name", "render_message", "with_footer"]
