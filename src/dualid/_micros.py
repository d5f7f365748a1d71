"""The stored form of a time: integer microseconds since the Unix epoch (UTC), exact,
sortable and the same on SQLite and PostgreSQL. Internal; no I/O, no clock reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "from_us", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """Aware datetime -> microseconds since the epoch."""
    return (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)
