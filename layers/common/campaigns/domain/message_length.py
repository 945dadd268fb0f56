"""WhatsApp's limit on a text message: 4,096 characters, personalisation included.

A campaign's longest message is its template with the longest name it will carry:
the longest first name of its list, or the campaign's `defaultNameValue` when that
is longer (contacts without a name get it), and the opt-out footer when the campaign
asks for one. Characters are Unicode code points.
"""

from __future__ import annotations

from campaigns.domain.personalise import FOOTER_SEPARATOR, NAME_PLACEHOLDER, render_message

MAX_MESSAGE_CHARS = 4096


def rendered_chars(template: str, name: str, footer: str | None = None) -> int:
    """The length of `template` with every `{Name}` replaced by `name`, and `footer`."""
    return len(render_message(template, name, name, footer))


def could_exceed(template: str, longest_possible_name: int, footer: str | None = None) -> bool:
    """Whether any name of up to `longest_possible_name` characters could take the
    message (with `footer`) over the limit (when not, no contact needs reading)."""
    placeholders = NAME_PLACEHOLDER.findall(template)
    grown = sum(longest_possible_name - len(p) for p in placeholders)
    footer_chars = len(FOOTER_SEPARATOR) + len(footer.strip()) if footer and footer.strip() else 0
    return len(template) + max(grown, 0) + footer_chars > MAX_MESSAGE_CHARS


def too_long_reason(template: str, longest_name: str, footer: str | None = None) -> str | None:
    """Why the message is over the limit with `longest_name` (and `footer`), or None."""
    chars = rendered_chars(template, longest_name, footer)
    if chars <= MAX_MESSAGE_CHARS:
        return None
    with_footer = " and the opt-out footer" if footer and footer.strip() else ""
    return (
        f"the message is {chars:,} characters with the longest name it will carry "
        f"({len(longest_name)} characters){with_footer}; WhatsApp allows {MAX_MESSAGE_CHARS:,}"
    )


__all__ = ["MAX_MESSAGE_CHARS", "could_exceed", "rendered_chars", "too_long_reason"]
