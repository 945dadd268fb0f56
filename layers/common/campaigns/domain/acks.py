"""WhatsApp's acknowledgements of a sent message, as WAHA's `message.ack` webhook
reports them, and the order they may move in.

An ack never moves backwards: a late `Delivered` does not undo `Read`. `Error`
ranks above `Server` (WhatsApp gave up after accepting it) and below `Delivered`
(a message that reached the phone did not fail). `Pending` is not an ack.
"""

from __future__ import annotations

from enum import StrEnum


class Ack(StrEnum):
    SERVER = "Server"
    ERROR = "Error"
    DELIVERED = "Delivered"
    READ = "Read"
    PLAYED = "Played"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def delivered(self) -> bool:
        return self.rank >= _RANKS[Ack.DELIVERED]

    @property
    def read(self) -> bool:
        return self.rank >= _RANKS[Ack.READ]


_RANKS = {Ack.SERVER: 10, Ack.ERROR: 15, Ack.DELIVERED: 20, Ack.READ: 30, Ack.PLAYED: 40}

# WAHA's numeric `ack` and its `ackName` (DEVICE is what the contract calls Delivered).
_BY_NUMBER = {-1: Ack.ERROR, 1: Ack.SERVER, 2: Ack.DELIVERED, 3: Ack.READ, 4: Ack.PLAYED}
_BY_NAME = {
    "ERROR": Ack.ERROR,
    "SERVER": Ack.SERVER,
    "DEVICE": Ack.DELIVERED,
    "READ": Ack.READ,
    "PLAYED": Ack.PLAYED,
}


def ack_from_waha(number: object, name: object) -> Ack | None:
    """The ack a `message.ack` payload reports, or None (PENDING, or nothing known)."""
    if isinstance(name, str) and name.upper() in _BY_NAME:
        return _BY_NAME[name.upper()]
    if isinstance(number, int) and not isinstance(number, bool):
        return _BY_NUMBER.get(number)
    return None


def counts_added(before: Ack | None, after: Ack) -> tuple[int, int]:
    """(deliveredCount, readCount) increments when a delivery's ack moves from `before`
    to `after`: each counter counts a delivery once, the first time it gets there."""
    was_delivered = before is not None and before.delivered
    was_read = before is not None and before.read
    return int(after.delivered and not was_delivered), int(after.read and not was_read)


__all__ = ["Ack", "ack_from_waha", "counts_added"]
