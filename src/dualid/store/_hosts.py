"""Statements of the host aggregate: the host row and its requirements.

Lock protocol (``docs/concurrency.md``): a write to a host's requirements (or events)
locks the host row first, so concurrent replacements of one (host, event type)
requirement apply one after the other and the last to commit wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from dualid.models import EventType, HostKind

from . import _sql as db
from ._rows import FIELDS, TEXT, TIME, Shape, choice
from ._sql import Conn

__all__ = [
    "HostRow",
    "RequirementRow",
    "get_host",
    "host_ids",
    "insert_host",
    "lock_host",
    "put_requirement",
    "requirements_of",
    "update_host",
]


class HostRow(NamedTuple):
    host_id: str
    kind: str
    name: str
    created_at: datetime


class RequirementRow(NamedTuple):
    host_id: str
    event_type: str
    required: str  # comma-separated field names
    optional: str
    purpose: str
    updated_at: datetime


_HOST_ROW = Shape("dualid_host", host_id=TEXT, kind=choice(HostKind), name=TEXT, created_at=TIME)
_HOST_ID = Shape("dualid_host", host_id=TEXT)
_REQUIREMENT_ROW = Shape(
    "dualid_requirement",
    host_id=TEXT,
    event_type=choice(EventType),
    required=FIELDS,
    optional=FIELDS,
    purpose=TEXT,
    updated_at=TIME,
)
_LOCK = db.Sql("SELECT host_id FROM dualid_host WHERE host_id = ?")
_LOCK_PG = db.Sql("SELECT host_id FROM dualid_host WHERE host_id = ? FOR UPDATE")
_GET = db.Sql("SELECT host_id, kind, name, created_at FROM dualid_host WHERE host_id = ?")
_IDS = db.Sql("SELECT host_id FROM dualid_host ORDER BY host_id")
_INSERT = db.Sql(
    "INSERT INTO dualid_host (host_id, kind, name, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING host_id"
)
_UPDATE = db.Sql("UPDATE dualid_host SET kind = ?, name = ? WHERE host_id = ?")
_REQUIREMENTS = db.Sql(
    "SELECT host_id, event_type, required, optional, purpose, updated_at"
    " FROM dualid_requirement WHERE host_id = ? ORDER BY event_type"
)
_DELETE_REQUIREMENT = db.Sql("DELETE FROM dualid_requirement WHERE host_id = ? AND event_type = ?")
_INSERT_REQUIREMENT = db.Sql(
    "INSERT INTO dualid_requirement (host_id, event_type, required, optional, purpose,"
    " updated_at) VALUES (?, ?, ?, ?, ?, ?)"
)


def lock_host(conn: Conn, host_id: str) -> bool:
    """Take the host's lock for the rest of the transaction; False when there is no such
    host."""
    sql = _LOCK_PG if db.dialect(conn) == "postgresql" else _LOCK
    return bool(db.query(conn, sql, (host_id,)))


def get_host(conn: Conn, host_id: str) -> HostRow | None:
    rows = _HOST_ROW.check(db.query(conn, _GET, (host_id,)))
    if not rows:
        return None
    host, kind, name, created_us = rows[0]
    return HostRow(host, kind, name, db.from_us(created_us))


def host_ids(conn: Conn) -> list[str]:
    return [h for (h,) in _HOST_ID.check(db.query(conn, _IDS))]


def insert_host(conn: Conn, row: HostRow) -> bool:
    """Insert the host unless its id exists; True when this call created it."""
    params = (row.host_id, row.kind, row.name, db.to_us(row.created_at))
    return bool(db.query(conn, _INSERT, params))


def update_host(conn: Conn, host_id: str, kind: str, name: str) -> None:
    db.execute(conn, _UPDATE, (kind, name, host_id))


def requirements_of(conn: Conn, host_id: str) -> list[RequirementRow]:
    return [
        RequirementRow(h, e, r, o, p, db.from_us(u))
        for h, e, r, o, p, u in _REQUIREMENT_ROW.check(db.query(conn, _REQUIREMENTS, (host_id,)))
    ]


def put_requirement(conn: Conn, row: RequirementRow) -> None:
    """Replace the requirement of (host, event type); the caller holds the host's lock."""
    db.execute(conn, _DELETE_REQUIREMENT, (row.host_id, row.event_type))
    params = (*row[:5], db.to_us(row.updated_at))
    db.execute(conn, _INSERT_REQUIREMENT, params)
