"""Time helpers: every stored and returned time is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` suffix and millisecond precision."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 with any offset (or `Z`) and return it in UTC; naive times are refused."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a time zone offset is required (for example 2026-01-31T09:00:00Z)")
    return parsed.astimezone(UTC)
