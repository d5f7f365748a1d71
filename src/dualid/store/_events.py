"""Statements of the event aggregate: events (one host, one event type each).

Lock protocol (``docs/concurrency.md``): the first registration of an unknown event
creates it with an insert that does nothing when the row exists; on PostgreSQL a second
inserter waits for the first one's transaction and then reads the committed row, so of
two registrations racing with different event types exactly one type wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection

from . import _fast as fast

__all__ = ["EventRow", "ensure_event", "get_event", "insert_event", "update_event"]


class EventRow(NamedTuple):
    host_id: str
    event_id: str
    event_type: str
    title: str | None
    starts_at: datetime | None
    created_at: datetime


_GET = fast.Sql(
    "SELECT host_id, event_id, event_type, title, starts_at, created_at FROM dualid_event"
    " WHERE host_id = ? AND event_id = ?"
)
_INSERT = fast.Sql(
    "INSERT INTO dualid_event (host_id, event_id, event_type, title, starts_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING event_id"
)
_UPDATE = fast.Sql(
    "UPDATE dualid_event SET title = ?, starts_at = ? WHERE host_id = ? AND event_id = ?"
)


def _opt_us(value: datetime | None) -> int | None:
    return None if value is None else fast.to_us(value)


def get_event(
    conn: Connection | fast.RawConnection, host_id: str, event_id: str
) -> EventRow | None:
    rows = fast.query(conn, _GET, (host_id, event_id))
    if not rows:
        return None
    host, event, etype, title, starts_us, created_us = rows[0]
    starts = None if starts_us is None else fast.from_us(starts_us)
    return EventRow(host, event, etype, title, starts, fast.from_us(created_us))


def insert_event(conn: Connection, row: EventRow) -> bool:
    """Insert the event unless it exists; True when this call created it."""
    params = (
        row.host_id,
        row.event_id,
        row.event_type,
        row.title,
        _opt_us(row.starts_at),
        fast.to_us(row.created_at),
    )
    return bool(fast.query(conn, _INSERT, params))


def ensure_event(
    conn: Connection, host_id: str, event_id: str, event_type: str, now: datetime
) -> tuple[str, bool]:
    """The event's type, creating the event with ``event_type`` when it does not exist;
    and whether this call created it."""
    if insert_event(conn, EventRow(host_id, event_id, event_type, None, None, now)):
        return event_type, True
    existing = get_event(conn, host_id, event_id)
    assert existing is not None  # events are never deleted
    return existing.event_type, False


def update_event(
    conn: Connection, host_id: str, event_id: str, title: str | None, starts_at: datetime | None
) -> None:
    fast.execute(conn, _UPDATE, (title, _opt_us(starts_at), host_id, event_id))
