"""The names a contact list's messages will carry: its longest first name."""

from __future__ import annotations

from campaigns.data.models import Contact


def longest_first_name(list_id: str) -> str:
    """The longest first name among the list's contacts ("" when none has one). Reads
    the names only, a page at a time."""
    longest = ""
    for contact in Contact.query(list_id, attributes_to_get=["firstName"]):
        name = (contact.first_name or "").strip()
        if len(name) > len(longest):
            longest = name
    return longest


__all__ = ["longest_first_name"]
