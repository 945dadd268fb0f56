"""WhatsApp's limit on a text message: 4,096 characters, personalisation included.

A campaign's longest message is its template with the longest name it will carry:
the longest first name of its list, or the campaign's `defaultNameValue` when that
is longer (contacts without a name get it). Characters are Unicode code points.
"""

from __future__ import annotations

from campaigns.domain.personalise import NAME_PLACEHOLDER, render_message

MAX_MESSAGE_CHARS = 4096


def rendered_chars(template: str, name: str) -> int:
    """The length of `template` with every `{Name}` replaced by `name`."""
    return len(render_message(template, name, name))


def could_exceed(template: str, longest_possible_name: int) -> bool:
    """Whether any name of up to `longest_possible_name` characters could take the
    message over the limit (when not, no contact needs reading)."""
    placeholders = NAME_PLACEHOLDER.findall(template)
    grown = sum(longest_possible_name - len(p) for p in placeholders)
    return len(template) + max(grown, 0) > MAX_MESSAGE_CHARS


def too_long_reason(template: str, longest_name: str) -> str | None:
    """Why the message is over the limit with `longest_name`, or None."""
    chars = rendered_chars(template, longest_name)
    if chars <= MAX_MESSAGE_CHARS:
        return None
    return (
        f"the message is {chars:,} characters with the longest name it will carry "
        f"({len(longest_name)} characters); WhatsApp allows {MAX_MESSAGE_CHARS:,}"
    )


__all__ = ["MAX_MESSAGE_CHARS", "could_exceed", "rendered_chars", "too_long_reason"]
