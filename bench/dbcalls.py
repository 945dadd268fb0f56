"""DynamoDB requests counted by what asked for them.

botocore's `before-parameter-build` hook on the domain's clients (PynamoDB's, one per
model; once per call, retries not counted) notes each request's operation, its
table(s) and who asked: of the domain package's functions (layers/common/campaigns)
on the calling thread's stack, the innermost one `PURPOSES` names, by itself or with
an operation (the claim of a
contact is `data/run_writes.py:RunWrites.claim` whatever helper writes it), else the
innermost one.

    with count_requests() as calls:
        ...
    per_caller(calls)  # {"claim of the contact (UpdateItem campaigns)": 12, ...}
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bench

_LAYER = str(bench.REPO_ROOT / "layers" / "common" / "campaigns") + os.sep

# What the hot paths' requests are for, by the function that makes them (and its
# operation, where one function makes several).
PURPOSES = {
    "data/run_writes.py:RunWrites.claim": "claim + opt-out check + number's turn",
    "data/run_writes.py:RunWrites.record": "record: delivery + progress (+ next claim, check and turn)",
    "data/run_writes.py:RunWrites.skip": "opted-out contact recorded Skipped",
    "data/number_slots.py:_write": "number's state written alone (waiting for a turn, a late turn moved)",
    "data/number_slots.py:NumberSlots._read": "number's state read (per-number pacing)",
    "data/optouts.py:is_opted_out": "opt-out read",
    "data/campaign_reads.py:CampaignReads.contact_page": "page of contacts",
    "data/campaign_reads.py:CampaignReads.get_campaign": "campaign read (run start)",
    "data/campaign_reads.py:CampaignReads.get_contact_list": "contact list read (run start)",
    "data/campaign_reads.py:CampaignReads.get_template": "template read (run start)",
    "data/campaign_reads.py:CampaignReads.session_holder": "session holder read (run start)",
    "data/run_writes.py:RunWrites.take": "take (Scheduled -> Running)",
    "data/run_writes.py:RunWrites.continue_run": "continuation accepted",
    "data/run_writes.py:RunWrites.park": "park (wait as a delayed continuation)",
    "data/run_writes.py:RunWrites.complete": "complete",
    "data/campaign_reads.py:CampaignReads.waha_session_for": "session read (run start)",
    "api/webhooks.py:_verified": "session by WAHA name (its key)",
    "data/webhook_events.py:first_time": "event id recorded once",
    "data/acks.py:record_ack Query": "delivery by message id",
    "data/acks.py:record_ack GetItem": "delivery read, strongly consistent",
    "data/acks.py:_sent_through": "campaign read (sent through this number?)",
    "data/webhook_events.py:park_ack": "ack parked until its delivery is recorded",
    "data/acks.py:_move": "ack + counters",
}


# The functions PURPOSES names, whatever operation the key adds.
_NAMED = frozenset(key.split(" ", 1)[0] for key in PURPOSES)


@dataclass(frozen=True)
class Call:
    operation: str
    tables: str  # table names without the prefix, comma-separated
    caller: str  # "data/run_writes.py:RunWrites.claim", or "?" outside the domain

    @property
    def label(self) -> str:
        what = PURPOSES.get(f"{self.caller} {self.operation}") or PURPOSES.get(
            self.caller, f"`{self.caller}`"
        )
        return f"{what} ({self.operation} {self.tables})"


def _tables(operation: str, params: dict[str, Any]) -> str:
    if operation == "TransactWriteItems":
        names = [next(iter(item.values())).get("TableName", "?") for item in params.get("TransactItems", [])]
    elif operation in ("BatchWriteItem", "BatchGetItem"):
        names = list(params.get("RequestItems", {}))
    else:
        names = [params.get("TableName", "?")]
    prefix = os.environ.get("TABLE_PREFIX", "")
    short = [name[len(prefix) :] if prefix and name.startswith(prefix) else name for name in names]
    return " + ".join(dict.fromkeys(short))


def _caller() -> str:
    innermost = None
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_LAYER):
            name = f"{path[len(_LAYER) :]}:{frame.f_code.co_qualname}"
            if name in _NAMED:
                return name
            innermost = innermost or name
        frame = frame.f_back
    return innermost or "?"


def _clients() -> list[Any]:
    from campaigns.data.models import ALL_MODELS

    seen: set[int] = set()
    clients = []
    for model in ALL_MODELS:
        client = model._get_connection().connection.client
        if id(client) not in seen:
            seen.add(id(client))
            clients.append(client)
    return clients


@contextmanager
def count_requests() -> Iterator[Counter[Call]]:
    """Every DynamoDB request the domain's models make meanwhile, from any thread of
    this process. Register after the models are configured for good (a local stack's
    start points them at a new endpoint, with new clients)."""
    calls: Counter[Call] = Counter()
    lock = threading.Lock()

    def on_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        call = Call(model.name, _tables(model.name, params), _caller())
        with lock:
            calls[call] += 1

    clients = _clients()
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb", on_call, unique_id="bench-calls")
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister("before-parameter-build.dynamodb", unique_id="bench-calls")


def per_label(calls: Counter[Call]) -> Counter[str]:
    out: Counter[str] = Counter()
    for call, count in calls.items():
        out[call.label] += count
    return out


def per_operation(calls: Counter[Call]) -> Counter[str]:
    out: Counter[str] = Counter()
    for call, count in calls.items():
        out[call.operation] += count
    return out
