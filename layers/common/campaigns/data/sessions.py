"""WhatsApp sessions in DynamoDB, keyed by their WAHA name.

The server generates every name (`new_waha_name`), so no user can pick, take or
probe another user's number; a name is written once (a conditional put), and a
deleted session keeps its name taken but leaves its owner's index. The product's
`id` is what users see; `find` reads a session by owner and id.

Each session is written with an id key beside it, an item keyed `id#<id>` that
holds the session's WAHA name (in the same transaction), so `find` reads a
session by its id with two strongly consistent reads of the table: a session is
found the moment its creation is answered, when the byUser index may not have it
yet. The id key carries no owner, so it is in no index, and `id#` cannot begin a
WAHA name. Sessions written before id keys are found through the index.

Items written before sessions had ids (a name "held" by typing it) carry a name and
a holder only: they are not listed and cannot be used for new campaigns, but a
campaign created then still sends through its name while its holder owns it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from campaigns.data.campaign_writes import conditional_failure
from campaigns.data.models import WhatsAppSession
from campaigns.data.owned_items import new_id, plausible_id
from campaigns.data.pagination import Page, user_page

# The key of a page of the byUser index: the table's and the index's attributes.
BY_USER_KEY = {"name": "S", "userId": "S", "createdAt": "S"}
_WITH_ID = WhatsAppSession.id.exists()


GENERATED_NAME = re.compile(r"^wcr-[0-9a-f]{8}-[0-9a-f]{20}$")


def is_generated(waha_name: str) -> bool:
    """A name this server generated: its user has never seen it (an operator's adopted
    name, such as WAHA Core's `default`, is one they were told)."""
    return bool(GENERATED_NAME.match(waha_name))


def new_waha_name(user_id: str) -> str:
    """`wcr-<8 hex of the owner's hash>-<20 random hex>`: tied to its owner, unguessable
    (80 random bits), and within WAHA's session name alphabet."""
    owner = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:8]
    return f"wcr-{owner}-{secrets.token_hex(10)}"


ID_KEY_PREFIX = "id#"


def id_key(session_id: str) -> str:
    """The key of the item that leads from a session's id to its WAHA name."""
    return f"{ID_KEY_PREFIX}{session_id}"


def create(
    user_id: str, waha_name: str, label: str | None, daily_limit: int, status: str, now: datetime
) -> WhatsAppSession:
    """A new session item and its id key; the name must be new (a generated name always is)."""
    item = WhatsAppSession(
        name=waha_name,
        user_id=user_id,
        id=new_id("wa"),
        label=label,
        daily_limit=daily_limit,
        status=status,
        created_at=now,
    )
    _save_with_id_key(item, WhatsAppSession.name.does_not_exist())
    return item


def _save_with_id_key(item: WhatsAppSession, condition) -> None:
    """The session and its id key in one transaction (one request)."""
    assert item.id
    key = WhatsAppSession(name=id_key(item.id), waha_name=item.name, created_at=item.created_at)
    with TransactWrite(connection=WhatsAppSession._get_connection().connection) as tx:
        tx.save(item, condition=condition)
        tx.save(key, condition=WhatsAppSession.name.does_not_exist())


def adopt(waha_name: str, user_id: str, daily_limit: int, now: datetime) -> WhatsAppSession | None:
    """An existing WAHA session handed to `user_id` by an operator. A name no current
    session uses (new, deleted, or only held the old way) is taken; None when another
    product session has it."""
    item = WhatsAppSession(
        name=waha_name,
        user_id=user_id,
        id=new_id("wa"),
        label=waha_name,
        daily_limit=daily_limit,
        created_at=now,
    )
    free = (
        WhatsAppSession.name.does_not_exist()
        | WhatsAppSession.user_id.does_not_exist()
        | WhatsAppSession.id.does_not_exist()
    )
    try:
        _save_with_id_key(item, free)
    except TransactWriteError as exc:
        if not conditional_failure(exc):
            raise
        return None
    return item


def by_name(waha_name: str) -> WhatsAppSession | None:
    """The session with this WAHA name, read consistently (deleted ones included)."""
    if not plausible_id(waha_name):
        return None
    try:
        return WhatsAppSession.get(waha_name, consistent_read=True)
    except DoesNotExist:
        return None


def find(user_id: str, session_id: str) -> WhatsAppSession | None:
    """The user's session `session_id` (None for anyone else's, or a deleted one), read
    consistently through its id key: a session just created is found at once."""
    if not plausible_id(session_id):
        return None
    try:
        key = WhatsAppSession.get(id_key(session_id), consistent_read=True)
    except DoesNotExist:
        return _find_in_index(user_id, session_id)
    current = by_name(key.waha_name) if key.waha_name else None
    if current is not None and current.user_id == user_id and current.id == session_id:
        return current
    return None


def _find_in_index(user_id: str, session_id: str) -> WhatsAppSession | None:
    """A session written before id keys, through its owner's index."""
    query = WhatsAppSession.by_user.query(user_id, filter_condition=WhatsAppSession.id == session_id)
    for item in query:
        # The index lags its table a little: the table has the last word.
        current = by_name(item.name)
        if current is not None and current.user_id == user_id and current.id == session_id:
            return current
    return None


def count(user_id: str) -> int:
    """How many sessions the user has now."""
    return sum(1 for _ in WhatsAppSession.by_user.query(user_id, filter_condition=_WITH_ID))


def first(user_id: str) -> WhatsAppSession | None:
    """The user's first session, if any."""
    for item in WhatsAppSession.by_user.query(user_id, scan_index_forward=True, filter_condition=_WITH_ID):
        return item
    return None


def holder(waha_name: str) -> str | None:
    """The user who owns the session with this WAHA name, if anyone does."""
    item = by_name(waha_name)
    return item.user_id if item is not None else None


def page(user_id: str, limit: int, token: str | None) -> Page[WhatsAppSession]:
    """The user's sessions, the first created first."""
    query = WhatsAppSession.by_user.query
    return user_page(
        lambda **kw: query(user_id, scan_index_forward=True, filter_condition=_WITH_ID, **kw),
        user_id,
        BY_USER_KEY,
        limit,
        token,
    )


def change(item: WhatsAppSession, label: str | None, daily_limit: int | None, now: datetime) -> bool:
    """Set the label and/or daily limit while the owner still has the session."""
    actions = []
    if label is not None:
        actions.append(WhatsAppSession.label.set(label))
    if daily_limit is not None:
        actions.append(WhatsAppSession.daily_limit.set(daily_limit))
    if not actions:
        return True
    return _update(item.name, actions, WhatsAppSession.user_id == item.user_id)


def record_status(
    waha_name: str, status: str, at: datetime, phone_number: str | None = None, push_name: str | None = None
) -> bool:
    """Record WAHA's status as of `at`, unless a later report is already recorded (webhooks
    arrive late and out of order). The paired number and name go with a WORKING status."""
    actions = [WhatsAppSession.status.set(status), WhatsAppSession.status_at.set(at)]
    if phone_number:
        actions.append(WhatsAppSession.phone_number.set(phone_number))
    if push_name:
        actions.append(WhatsAppSession.push_name.set(push_name))
    newer = WhatsAppSession.status_at.does_not_exist() | (WhatsAppSession.status_at < at)
    return _update(waha_name, actions, WhatsAppSession.user_id.exists() & newer)


def mark_deleted(item: WhatsAppSession, now: datetime) -> bool:
    """The session is gone: it leaves its owner's index; its name stays taken."""
    actions = [
        WhatsAppSession.user_id.remove(),
        WhatsAppSession.deleted_by.set(item.user_id or ""),
        WhatsAppSession.deleted_at.set(now),
        WhatsAppSession.status.set("DELETED"),
    ]
    return _update(item.name, actions, WhatsAppSession.user_id == item.user_id)


def _update(waha_name: str, actions: list, condition) -> bool:
    try:
        WhatsAppSession(waha_name).update(
            actions=actions, condition=WhatsAppSession.name.exists() & condition
        )
    except UpdateError as exc:
        if not conditional_failure(exc):
            raise
        return False
    return True


__all__ = [
    "adopt",
    "by_name",
    "change",
    "count",
    "create",
    "find",
    "first",
    "holder",
    "id_key",
    "is_generated",
    "mark_deleted",
    "new_waha_name",
    "page",
    "record_status",
]
