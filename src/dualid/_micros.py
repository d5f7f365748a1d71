"""The stored form of a time: integer microseconds since the Unix epoch (UTC), exact,
sortable and the same on SQLite and PostgreSQL. Internal; no I/O, no clock reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["EPOCH", "from_us", "iso_from_us", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """Aware datetime -> microseconds since the epoch."""
    return (value - EPOCH) // _US


def from_us(value: int) -> datetime:
    seconds, micros = divmod(value, 1_000_000)
    return EPOCH + timedelta(0, seconds, micros)


_DAYS: dict[int, str] = {}  # day since the epoch -> its ISO date (a few hundred at most)


def iso_from_us(value: int) -> str:
    """``from_us(value).isoformat()`` (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``) without
    building the datetime: the date part is kept per day, the rest is arithmetic. The host
    view formats one per attendee."""
    seconds, micros = divmod(value, 1_000_000)
    day, seconds = divmod(seconds, 86_400)
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        date = _DAYS[day] = (EPOCH + timedelta(day)).date().isoformat()
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if micros:
        return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}+00:00"
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}+00:00"
