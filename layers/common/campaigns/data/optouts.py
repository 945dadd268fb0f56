"""Each user's opt-out list in DynamoDB, keyed by (userId, E.164 number).

Writes are idempotent: recording a number already on the list keeps its first
record (when and why it was added), so a repeated STOP, a re-imported CSV or a
webhook WAHA retries changes nothing. A keyword opt-in (START) takes a number off
only when its opt-out is not newer than the message, so a START that arrives late
cannot undo a later STOP.

The runner checks the list in the same request as its claim of a contact
(`not_opted_out`, a condition on the list's item in the claim's transaction), so an
opt-out recorded before the claim is always seen; `is_opted_out` is the same question
as a strongly consistent read of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import DeleteError, PutError

from campaigns.data.campaign_writes import TransactItem
from campaigns.data.models import OptOut
from campaigns.data.pagination import Page, user_page
from campaigns.domain.optouts import OptOutSource

# The key of a page of the list, as a page token carries it.
OPT_OUT_KEY = {"userId": "S", "phoneNumber": "S"}
_BATCH_GET = 100  # BatchGetItem's own limit


@dataclass(frozen=True)
class NewOptOut:
    phone_number: str  # E.164
    source: OptOutSource
    at: datetime
    keyword: str | None = None
    whatsapp_session_id: str | None = None


def is_opted_out(user_id: str, phone_e164: str) -> bool:
    """Whether `phone_e164` is on `user_id`'s list, read strongly consistent."""
    try:
        OptOut.get(user_id, phone_e164, consistent_read=True, attributes_to_get=["phoneNumber"])
    except OptOut.DoesNotExist:
        return False
    return True


def not_opted_out(user_id: str, phone_e164: str) -> TransactItem:
    """The condition that `phone_e164` is not on `user_id`'s list, as an item of a
    transaction, named "opt-out": the transaction is refused if it is."""
    return TransactItem(
        "opt-out",
        "check",
        lambda tx: tx.condition_check(
            OptOut, user_id, phone_e164, condition=OptOut.phone_number.does_not_exist()
        ),
    )


def get(user_id: str, phone_e164: str) -> OptOut | None:
    try:
        return OptOut.get(user_id, phone_e164, consistent_read=True)
    except OptOut.DoesNotExist:
        return None


def record(user_id: str, entry: NewOptOut) -> bool:
    """Put the number on the list; False when it was there already (kept as it was)."""
    item = _item(user_id, entry)
    try:
        item.save(condition=OptOut.phone_number.does_not_exist())
    except PutError as exc:
        if _condition_failed(exc):
            return False
        raise
    return True


def record_many(user_id: str, entries: Sequence[NewOptOut]) -> list[str]:
    """Put every number on the list in batches; returns the numbers that were not on
    it before (those already there keep their first record)."""
    present = _present(user_id, [entry.phone_number for entry in entries])
    new = [entry for entry in entries if entry.phone_number not in present]
    with OptOut.batch_write() as batch:
        for entry in new:
            batch.save(_item(user_id, entry))
    return [entry.phone_number for entry in new]


def remove(user_id: str, phone_e164: str) -> bool:
    """Take the number off the list; False when it was not on it."""
    try:
        OptOut(user_id=user_id, phone_number=phone_e164).delete(condition=OptOut.phone_number.exists())
    except DeleteError as exc:
        if _condition_failed(exc):
            return False
        raise
    return True


def remove_unless_newer(user_id: str, phone_e164: str, at: datetime) -> bool:
    """Take the number off the list unless it was put there after `at`."""
    condition = OptOut.phone_number.exists() & (OptOut.opted_out_at <= at)
    try:
        OptOut(user_id=user_id, phone_number=phone_e164).delete(condition=condition)
    except DeleteError as exc:
        if _condition_failed(exc):
            return False
        raise
    return True


def page(user_id: str, limit: int, token: str | None) -> Page[OptOut]:
    """The user's list in number order."""
    return user_page(lambda **kw: OptOut.query(user_id, **kw), user_id, OPT_OUT_KEY, limit, token)


def _present(user_id: str, numbers: Iterable[str]) -> set[str]:
    unique = list(dict.fromkeys(numbers))
    found: set[str] = set()
    for start in range(0, len(unique), _BATCH_GET):
        keys = [(user_id, number) for number in unique[start : start + _BATCH_GET]]
        items = OptOut.batch_get(keys, consistent_read=True, attributes_to_get=list(OPT_OUT_KEY))
        found.update(item.phone_number for item in items)
    return found


def _item(user_id: str, entry: NewOptOut) -> OptOut:
    return OptOut(
        user_id=user_id,
        phone_number=entry.phone_number,
        opted_out_at=entry.at,
        source=entry.source.value,
        keyword=entry.keyword,
        whatsapp_session_id=entry.whatsapp_session_id,
    )


def _condition_failed(exc: PutError | DeleteError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


__all__ = [
    "OPT_OUT_KEY",
    "NewOptOut",
    "get",
    "is_opted_out",
    "not_opted_out",
    "page",
    "record",
    "record_many",
    "remove",
    "remove_unless_newer",
]
