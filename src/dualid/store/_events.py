"""Statements of the event aggregate: events (one host, one event type each) and their
registrations.

Lock protocol (``docs/concurrency.md``): the first registration of an unknown event
creates it with an insert that does nothing when the row exists; on PostgreSQL a second
inserter waits for the first one's transaction and then reads the committed row, so of
two registrations racing with different event types exactly one type wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from dualid.models import EventType

from . import _sql as db
from ._rows import TEXT, TEXT_OR_NULL, TIME, TIME_OR_NULL, Shape, choice
from ._sql import Conn

__all__ = [
    "ATTENDEE_ROW",
    "EventRow",
    "RegistrationRow",
    "delete_registration",
    "ensure_event",
    "get_event",
    "insert_event",
    "insert_registration",
    "registration_states",
    "registrations_of",
    "update_event",
]


class EventRow(NamedTuple):
    host_id: str
    event_id: str
    event_type: str
    title: str | None
    starts_at: datetime | None
    created_at: datetime


_EVENT_TYPE = choice(EventType)
_EVENT_ROW = Shape(
    "dualid_event",
    host_id=TEXT,
    event_id=TEXT,
    event_type=_EVENT_TYPE,
    title=TEXT_OR_NULL,
    starts_at=TIME_OR_NULL,
    created_at=TIME,
)
_GET = db.Sql(
    "SELECT host_id, event_id, event_type, title, starts_at, created_at FROM dualid_event"
    " WHERE host_id = ? AND event_id = ?"
)
_INSERT = db.Sql(
    "INSERT INTO dualid_event (host_id, event_id, event_type, title, starts_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING event_id"
)
_UPDATE = db.Sql(
    "UPDATE dualid_event SET title = ?, starts_at = ? WHERE host_id = ? AND event_id = ?"
)


def _opt_us(value: datetime | None) -> int | None:
    return None if value is None else db.to_us(value)


def get_event(conn: Conn, host_id: str, event_id: str) -> EventRow | None:
    rows = _EVENT_ROW.check(db.query(conn, _GET, (host_id, event_id)))
    if not rows:
        return None
    host, event, etype, title, starts_us, created_us = rows[0]
    starts = None if starts_us is None else db.from_us(starts_us)
    return EventRow(host, event, etype, title, starts, db.from_us(created_us))


def insert_event(conn: Conn, row: EventRow) -> bool:
    """Insert the event unless it exists; True when this call created it."""
    params = (
        row.host_id,
        row.event_id,
        row.event_type,
        row.title,
        _opt_us(row.starts_at),
        db.to_us(row.created_at),
    )
    return bool(db.query(conn, _INSERT, params))


def ensure_event(
    conn: Conn, host_id: str, event_id: str, event_type: str, now: datetime
) -> tuple[str, bool]:
    """The event's type, creating the event with ``event_type`` when it does not exist;
    and whether this call created it."""
    if insert_event(conn, EventRow(host_id, event_id, event_type, None, None, now)):
        return event_type, True
    existing = get_event(conn, host_id, event_id)
    assert existing is not None  # events are never deleted
    return existing.event_type, False


def update_event(
    conn: Conn, host_id: str, event_id: str, title: str | None, starts_at: datetime | None
) -> None:
    db.execute(conn, _UPDATE, (title, _opt_us(starts_at), host_id, event_id))


# -- registrations ----------------------------------------------------------------------
class RegistrationRow(NamedTuple):
    registration_id: str
    agent_id: str
    host_id: str
    event_type: str
    event_id: str
    created_at: datetime


_REG_ROW = Shape(
    "dualid_registration",
    registration_id=TEXT,
    agent_id=TEXT,
    host_id=TEXT,
    event_type=_EVENT_TYPE,
    event_id=TEXT,
    created_at=TIME,
)
# The registration's columns of a host-view row (store/_shared.py: event_page).
ATTENDEE_ROW = Shape(
    "dualid_registration", registration_id=TEXT, agent_id=TEXT, event_type=_EVENT_TYPE
)
_REG_COLUMNS = "registration_id, agent_id, host_id, event_type, event_id, created_at"
_REGS_OF = db.Sql(
    f"SELECT {_REG_COLUMNS} FROM dualid_registration"  # noqa: S608
    " WHERE agent_id = ? AND host_id = ? ORDER BY created_at, registration_id"
)
_REGS_OF_EVENT = db.Sql(
    f"SELECT {_REG_COLUMNS} FROM dualid_registration"  # noqa: S608
    " WHERE agent_id = ? AND host_id = ? AND event_id = ? ORDER BY created_at, registration_id"
)
_REGS_OF_AGENT = db.Sql(
    f"SELECT {_REG_COLUMNS} FROM dualid_registration"  # noqa: S608
    " WHERE agent_id = ? ORDER BY created_at, registration_id"
)
_INSERT_REG = db.Sql(
    f"INSERT INTO dualid_registration ({_REG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT DO NOTHING RETURNING registration_id"
)
_DELETE_REG = db.Sql("DELETE FROM dualid_registration WHERE registration_id = ?")

# Pages of every registration in the table's own order (:class:`~dualid.store._sql.TablePages`).
_STATES = db.TablePages("dualid_registration", _REG_COLUMNS, key="registration_id")


def _reg(r: tuple[Any, ...]) -> RegistrationRow:
    return RegistrationRow(r[0], r[1], r[2], r[3], r[4], db.from_us(r[5]))


def registrations_of(
    conn: Conn, agent_id: str, host_id: str | None = None, event_id: str | None = None
) -> list[RegistrationRow]:
    """A person's registrations (with one host, for one event), oldest first."""
    if host_id is None:
        rows = db.query(conn, _REGS_OF_AGENT, (agent_id,))
    elif event_id is None:
        rows = db.query(conn, _REGS_OF, (agent_id, host_id))
    else:
        rows = db.query(conn, _REGS_OF_EVENT, (agent_id, host_id, event_id))
    return [_reg(r) for r in _REG_ROW.check(rows)]


def registration_states(conn: Conn, after: Any, limit: int) -> list[tuple[Any, ...]]:
    """A page of ``limit`` registrations: ``(registration_id, agent_id, host_id,
    event_type, event_id, created_us, key)`` as stored, not checked (for
    ``audit.verify(deep=True)``, which compares every value with the log). ``after``: the
    last row's ``key`` of the page before (None for the first page)."""
    return _STATES.page(conn, after, limit)


def insert_registration(conn: Conn, row: RegistrationRow) -> bool:
    """Insert a registration; False when the person already has one for that event."""
    params = (*row[:5], db.to_us(row.created_at))
    return bool(db.query(conn, _INSERT_REG, params))


def delete_registration(conn: Conn, registration_id: str) -> int:
    return db.execute(conn, _DELETE_REG, (registration_id,))
