"""Item ids: generated here, and checked before they reach DynamoDB."""

from __future__ import annotations

import os
import time

MAX_ID_CHARS = 128


def new_id(prefix: str) -> str:
    """`<prefix>_<ms since epoch, hex><random>`: unique, and in creation order when sorted."""
    return f"{prefix}_{int(time.time() * 1000):012x}{os.urandom(5).hex()}"


def plausible_id(item_id: str) -> bool:
    """Ids this API hands out are short; anything else cannot exist (and must not reach
    DynamoDB, which refuses oversized keys with an error)."""
    return 0 < len(item_id) <= MAX_ID_CHARS


__all__ = ["MAX_ID_CHARS", "new_id", "plausible_id"]
