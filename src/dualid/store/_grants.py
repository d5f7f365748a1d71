"""Statements of the grant aggregate: grants and a person's default shares.

Lock protocol (``docs/concurrency.md``): every write here belongs to one person and runs
after that person's lock (:func:`dualid.store._agents.lock_agent`); what it decides on is
read after the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from dualid.models import EventType

from . import _sql as db
from ._rows import BLOB, FIELDS, INT, TEXT, TEXT_OR_NULL, TIME, TIME_OR_NULL, Shape, choice
from ._sql import Conn

__all__ = [
    "DefaultRow",
    "GrantRow",
    "GrantTerms",
    "active_grants",
    "default_fields",
    "defaults_of",
    "expired_pairs",
    "grant_by_id",
    "grant_states",
    "grants_of",
    "insert_grant",
    "page_grant_terms",
    "put_default",
    "revoke_grants",
    "seal_grant",
    "unrevoked_grants",
    "unsealed_grants",
]

_CHUNK = 500
_COLUMNS = (
    "grant_id, agent_id, host_id, event_id, event_type, fields, purpose, created_at,"
    " created_uncertainty_us, created_hlc, expires_at, revoked_at, mac"
)


_EVENT_TYPE = choice(EventType)
_GRANT_ROW = Shape(
    "dualid_grant",
    grant_id=TEXT,
    agent_id=TEXT,
    host_id=TEXT,
    event_id=TEXT_OR_NULL,
    event_type=_EVENT_TYPE.or_null(),
    fields=FIELDS,
    purpose=TEXT,
    created_at=TIME,
    created_uncertainty_us=INT,
    created_hlc=TEXT,
    expires_at=TIME_OR_NULL,
    revoked_at=TIME_OR_NULL,
    mac=BLOB.or_null(),
)
# The host view's hot path: the rule ignores names it does not know, so `fields` is only
# checked to be text here.
_TERMS_ROW = Shape(
    "dualid_grant",
    agent_id=TEXT,
    event_id=TEXT_OR_NULL,
    event_type=TEXT_OR_NULL,
    fields=TEXT,
    created_at=TIME,
    expires_at=TIME_OR_NULL,
    grant_id=TEXT,
    mac=BLOB.or_null(),
)
_PAIR_ROW = Shape("dualid_grant", agent_id=TEXT, host_id=TEXT)
_DEFAULTS_FOR_ROW = Shape("dualid_default", host_id=TEXT, fields=FIELDS)
_DEFAULT_ROW = Shape(
    "dualid_default",
    agent_id=TEXT,
    event_type=_EVENT_TYPE,
    host_id=TEXT,
    fields=FIELDS,
    updated_at=TIME,
)


def _grant_rows(rows: list[Any]) -> list[GrantRow]:
    return [GrantRow.from_db(r) for r in _GRANT_ROW.check(rows)]


def _opt_dt(value: int | None) -> datetime | None:
    return None if value is None else db.from_us(value)


def _opt_us(value: datetime | None) -> int | None:
    return None if value is None else db.to_us(value)


class GrantRow(NamedTuple):
    """A ``dualid_grant`` row."""

    grant_id: str
    agent_id: str
    host_id: str
    event_id: str | None
    event_type: str | None
    fields: str
    purpose: str
    created_at: datetime
    created_uncertainty_us: int
    created_hlc: str
    expires_at: datetime | None
    revoked_at: datetime | None
    mac: bytes | None = None
    """The row's MAC (migration 0007; None for a row from before it, until sealed)."""

    @classmethod
    def from_db(cls, r: Sequence[Any]) -> GrantRow:
        return cls(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            db.from_us(r[7]),
            r[8],
            r[9],
            _opt_dt(r[10]),
            _opt_dt(r[11]),
            r[12],
        )

    def to_db(self) -> tuple[Any, ...]:
        return (
            self.grant_id,
            self.agent_id,
            self.host_id,
            self.event_id,
            self.event_type,
            self.fields,
            self.purpose,
            db.to_us(self.created_at),
            self.created_uncertainty_us,
            self.created_hlc,
            _opt_us(self.expires_at),
            _opt_us(self.revoked_at),
            self.mac,
        )


GrantTerms = tuple[str, str | None, str | None, str, int, int | None, str, bytes | None]
"""What the host view reads of an active grant: agent_id, event_id, event_type, fields,
created_at and expires_at (microseconds), grant_id and mac, all in the covering index
``ix_dualid_grant_active``."""


class DefaultRow(NamedTuple):
    agent_id: str
    event_type: str
    host_id: str  # '' for every host
    fields: str
    updated_at: datetime


_BY_ID = db.Sql(f"SELECT {_COLUMNS} FROM dualid_grant WHERE grant_id = ?")  # noqa: S608
_INSERT = db.Sql(
    f"INSERT INTO dualid_grant ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
)
_ACTIVE = (
    f"SELECT {_COLUMNS} FROM dualid_grant"  # noqa: S608
    " WHERE host_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
    " AND agent_id IN (*)"
)
_ACTIVE_FOR_EVENT = (
    f"SELECT {_COLUMNS} FROM dualid_grant"  # noqa: S608
    " WHERE host_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
    " AND (event_id = ? OR event_id IS NULL) AND agent_id IN (*)"
)
# The grants of the people registered in one range of an event's registrations (a page
# of the host view), from the registration index and the grants' covering index.
_PAGE_TERMS = db.Sql(
    "SELECT g.agent_id, g.event_id, g.event_type, g.fields, g.created_at, g.expires_at,"
    " g.grant_id, g.mac FROM dualid_registration r JOIN dualid_grant g"
    " ON g.agent_id = r.agent_id AND g.host_id = r.host_id"
    " WHERE r.host_id = ? AND r.event_id = ? AND r.registration_id >= ?"
    " AND r.registration_id <= ? AND g.revoked_at IS NULL"
    " AND (g.expires_at IS NULL OR g.expires_at > ?) AND (g.event_id = ? OR g.event_id IS NULL)"
)
_OF_AGENT = db.Sql(
    f"SELECT {_COLUMNS} FROM dualid_grant WHERE agent_id = ?"  # noqa: S608
    " ORDER BY created_hlc, grant_id"
)
_OF_AGENT_HOST = db.Sql(
    f"SELECT {_COLUMNS} FROM dualid_grant WHERE agent_id = ? AND host_id = ?"  # noqa: S608
    " ORDER BY created_hlc, grant_id"
)
_UNREVOKED = db.Sql(
    f"SELECT {_COLUMNS} FROM dualid_grant"  # noqa: S608
    " WHERE agent_id = ? AND host_id = ? AND revoked_at IS NULL ORDER BY created_hlc, grant_id"
)
_UNREVOKED_EVENT = db.Sql(
    f"SELECT {_COLUMNS} FROM dualid_grant"  # noqa: S608
    " WHERE agent_id = ? AND host_id = ? AND event_id = ? AND revoked_at IS NULL"
    " ORDER BY created_hlc, grant_id"
)
_REVOKE = db.Sql(
    "UPDATE dualid_grant SET revoked_at = ?, mac = ? WHERE grant_id = ? AND revoked_at IS NULL"
)
_SEAL = db.Sql("UPDATE dualid_grant SET mac = ? WHERE grant_id = ? AND mac IS NULL")
_UNSEALED = db.Sql("SELECT count(*) FROM dualid_grant WHERE mac IS NULL")
_EXPIRED_PAIRS = db.Sql(
    "SELECT DISTINCT agent_id, host_id FROM dualid_grant WHERE revoked_at IS NULL"
    " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY agent_id, host_id"
)
# Pages of every grant in the table's own order (:class:`~dualid.store._sql.TablePages`).
_STATES = db.TablePages(
    "dualid_grant",
    "grant_id, agent_id, host_id, event_id, event_type, fields, created_at, expires_at,"
    " revoked_at, mac",
    key="grant_id",
)
_DEFAULTS_FOR = db.Sql(
    "SELECT host_id, fields FROM dualid_default"
    " WHERE agent_id = ? AND event_type = ? AND host_id IN (?, '')"
)
_DEFAULTS_OF = db.Sql(
    "SELECT agent_id, event_type, host_id, fields, updated_at FROM dualid_default"
    " WHERE agent_id = ? ORDER BY event_type, host_id"
)
_DELETE_DEFAULT = db.Sql(
    "DELETE FROM dualid_default WHERE agent_id = ? AND event_type = ? AND host_id = ?"
)
_INSERT_DEFAULT = db.Sql(
    "INSERT INTO dualid_default (agent_id, event_type, host_id, fields, updated_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


def grant_by_id(conn: Conn, grant_id: str) -> GrantRow | None:
    rows = _grant_rows(db.query(conn, _BY_ID, (grant_id,)))
    return rows[0] if rows else None


def insert_grant(conn: Conn, row: GrantRow) -> None:
    db.execute(conn, _INSERT, row.to_db())


def active_grants(
    conn: Conn,
    agent_ids: Sequence[str],
    host_id: str,
    latest_us: int,
    event_id: str | None = None,
) -> list[GrantRow]:
    """Active grants (not revoked, not expired at ``latest_us``) of ``agent_ids`` to
    ``host_id``; with ``event_id``, only those that can apply to it (its own grants and
    host-wide ones). The P2 rule itself is applied by the caller (consent._rules)."""
    out: list[GrantRow] = []
    for start in range(0, len(agent_ids), _CHUNK):
        chunk = list(agent_ids[start : start + _CHUNK])
        if event_id is None:
            sql = db.in_list(_ACTIVE, len(chunk))
            params: tuple[Any, ...] = (host_id, latest_us, *chunk)
        else:
            sql = db.in_list(_ACTIVE_FOR_EVENT, len(chunk))
            params = (host_id, latest_us, event_id, *chunk)
        out += _grant_rows(db.query(conn, sql, params))
    return out


def page_grant_terms(
    conn: Conn, host_id: str, event_id: str, first: str, last: str, latest_us: int
) -> list[GrantTerms]:
    """:func:`active_grants` for one page of the host view: the unrevoked grants, not
    expired at ``latest_us``, that may apply to ``event_id``, of the people registered for
    it from registration ``first`` to ``last`` (in registration order, both included). One
    statement whatever the page size, only the columns the rule and the row's MAC need,
    as plain tuples ``(agent_id, event_id, event_type, fields, created_us, expires_us,
    grant_id, mac)``."""
    return _TERMS_ROW.check(
        db.query(conn, _PAGE_TERMS, (host_id, event_id, first, last, latest_us, event_id))
    )


def grants_of(conn: Conn, agent_id: str, host_id: str | None = None) -> list[GrantRow]:
    """Every grant of a person (to one host), in the order they were given."""
    if host_id is None:
        rows = db.query(conn, _OF_AGENT, (agent_id,))
    else:
        rows = db.query(conn, _OF_AGENT_HOST, (agent_id, host_id))
    return _grant_rows(rows)


def unrevoked_grants(
    conn: Conn, agent_id: str, host_id: str, event_id: str | None = None
) -> list[GrantRow]:
    """The person's grants to a host (for one event) that are not revoked (expired ones
    included)."""
    if event_id is None:
        rows = db.query(conn, _UNREVOKED, (agent_id, host_id))
    else:
        rows = db.query(conn, _UNREVOKED_EVENT, (agent_id, host_id, event_id))
    return _grant_rows(rows)


def revoke_grants(conn: Conn, macs: Sequence[tuple[str, bytes]], at: datetime) -> int:
    """Mark the grants ``(grant_id, mac)`` revoked at ``at`` (those not revoked yet), each
    with its new MAC (which covers ``revoked_at``); how many were."""
    at_us = db.to_us(at)
    return sum(db.execute(conn, _REVOKE, (at_us, mac, grant_id)) for grant_id, mac in macs)


def seal_grant(conn: Conn, grant_id: str, mac: bytes) -> int:
    """Give a grant without a MAC (a row from before migration 0007) its MAC; 0 when it
    has one already (a write of the SDK's since)."""
    return db.execute(conn, _SEAL, (mac, grant_id))


def unsealed_grants(conn: Conn) -> int:
    """How many grants have no MAC (from before migration 0007, or nulled since)."""
    ((count,),) = db.query(conn, _UNSEALED)
    return int(count)


def expired_pairs(conn: Conn, latest_us: int) -> list[tuple[str, str]]:
    """``(agent_id, host_id)`` of every unrevoked grant expired at ``latest_us``."""
    return [(a, h) for a, h in _PAIR_ROW.check(db.query(conn, _EXPIRED_PAIRS, (latest_us,)))]


def grant_states(conn: Conn, after: Any, limit: int) -> list[tuple[Any, ...]]:
    """A page of ``limit`` grants: ``(grant_id, agent_id, host_id, event_id, event_type,
    fields, created_us, expires_us, revoked_us, mac, key)`` as stored, not checked
    (``audit.verify(deep=True)`` compares every value with the log, and a value of the
    wrong type is a disagreement there, not an error). ``after``: the last row's ``key`` of
    the page before (None for the first page)."""
    return _STATES.page(conn, after, limit)


def default_fields(conn: Conn, agent_id: str, event_type: str, host_id: str) -> dict[str, str]:
    """``{host_id or '': fields}``: the person's default for this host and for any host."""
    rows = db.query(conn, _DEFAULTS_FOR, (agent_id, event_type, host_id))
    return {h: f for h, f in _DEFAULTS_FOR_ROW.check(rows)}


def defaults_of(conn: Conn, agent_id: str) -> list[DefaultRow]:
    return [
        DefaultRow(a, e, h, f, db.from_us(u))
        for a, e, h, f, u in _DEFAULT_ROW.check(db.query(conn, _DEFAULTS_OF, (agent_id,)))
    ]


def put_default(
    conn: Conn, agent_id: str, event_type: str, host_id: str, fields: str, at: datetime
) -> None:
    """Replace one default (under the person's lock, so no concurrent insert races it)."""
    db.execute(conn, _DELETE_DEFAULT, (agent_id, event_type, host_id))
    db.execute(conn, _INSERT_DEFAULT, (agent_id, event_type, host_id, fields, db.to_us(at)))
