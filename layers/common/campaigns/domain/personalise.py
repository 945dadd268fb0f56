"""Message personalisation: `{Name}` in any letter case becomes the contact's name."""

from __future__ import annotations

import re

NAME_PLACEHOLDER = re.compile(r"\{name\}", re.IGNORECASE)


def display_name(first_name: str | None, default_name: str) -> str:
    """The contact's trimmed first name, or the campaign's default when it is missing or blank."""
    name = (first_name or "").strip()
    return name or default_name


def render_message(template: str, first_name: str | None, default_name: str) -> str:
    """Replace every `{Name}` (case-insensitive) in one pass.

    The replacement is a function, so a name that itself contains `{Name}` or
    backslashes is inserted literally and never expanded again.
    """
    name = display_name(first_name, default_name)
    return NAME_PLACEHOLDER.sub(lambda _match: name, template)
