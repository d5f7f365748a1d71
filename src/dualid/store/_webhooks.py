"""Statements of the webhook aggregate: a host's endpoint and the outbox of notices.

Lock protocol (``docs/concurrency.md``): a change that reports to a host reads the host's
endpoint without a lock (:func:`open_endpoint`) and inserts its notice, after its own
locks (the person's) and before its audit entry; the insert takes no lock anyone waits
for. Endpoint changes lock the host row first, then the endpoint row. A delivery on
PostgreSQL locks the endpoint row (``FOR UPDATE SKIP LOCKED``, :func:`claim_endpoint`) for
the one notice it delivers, so a host's notices go out one at a time, in ``seq`` order,
and never twice at once; other workers skip that host meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from . import _sql as db
from ._grants import _opt_dt, _opt_us
from ._rows import BLOB, INT, TEXT, TEXT_OR_NULL, TIME, TIME_OR_NULL, Col, Shape, choice
from ._sql import Conn

__all__ = [
    "NOTICE_STATUSES",
    "EndpointRow",
    "NoticeRow",
    "claim_endpoint",
    "delete_endpoint",
    "disable_endpoint",
    "fail_pending",
    "get_endpoint",
    "heads",
    "hosts_of_agent",
    "insert_endpoint",
    "insert_notice",
    "next_notice",
    "notice_counts",
    "notices_by_grant",
    "notices_by_id",
    "notices_of_host",
    "open_endpoint",
    "record_attempt",
    "rotate_endpoint",
    "update_endpoint",
]

NOTICE_STATUSES = ("pending", "delivered", "failed")
_CHUNK = 500


class EndpointRow(NamedTuple):
    """A ``dualid_webhook`` row."""

    host_id: str
    url: str
    salt: bytes
    prev_salt: bytes | None
    prev_until: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class NoticeRow(NamedTuple):
    """A ``dualid_webhook_notice`` row (``payload`` is the exact body sent)."""

    seq: int
    notice_id: str
    host_id: str
    type: str
    grant_id: str | None
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime


_ENDPOINT_COLUMNS = (
    "host_id, url, salt, prev_salt, prev_until, disabled_at, disabled_reason, created_at,"
    " updated_at"
)
_ENDPOINT_ROW = Shape(
    "dualid_webhook",
    host_id=TEXT,
    url=TEXT,
    salt=BLOB,
    prev_salt=BLOB.or_null(),
    prev_until=TIME_OR_NULL,
    disabled_at=TIME_OR_NULL,
    disabled_reason=TEXT_OR_NULL,
    created_at=TIME,
    updated_at=TIME,
)
_NOTICE_COLUMNS = (
    "seq, notice_id, host_id, type, grant_id, payload, status, attempts, next_attempt_at,"
    " last_attempt_at, delivered_at, last_status, last_error, created_at"
)
_NOTICE_ROW = Shape(
    "dualid_webhook_notice",
    seq=INT,
    notice_id=TEXT,
    host_id=TEXT,
    type=TEXT,
    grant_id=TEXT_OR_NULL,
    payload=TEXT,
    status=choice(NOTICE_STATUSES),
    attempts=INT,
    next_attempt_at=TIME,
    last_attempt_at=TIME_OR_NULL,
    delivered_at=TIME_OR_NULL,
    last_status=Col(int).or_null(),
    last_error=TEXT_OR_NULL,
    created_at=TIME,
)
_HEAD_ROW = Shape("dualid_webhook_notice", host_id=TEXT, seq=INT, next_attempt_at=TIME)
_CREATED_ROW = Shape("dualid_webhook", created_at=TIME)
_HOST_ROW = Shape("dualid_webhook_notice", host_id=TEXT)
_COUNT_ROW = Shape("dualid_webhook_notice", status=choice(NOTICE_STATUSES), count=INT)

_GET = db.Sql(f"SELECT {_ENDPOINT_COLUMNS} FROM dualid_webhook WHERE host_id = ?")  # noqa: S608
_CLAIM_PG = db.Sql(
    f"SELECT {_ENDPOINT_COLUMNS} FROM dualid_webhook"  # noqa: S608
    " WHERE host_id = ? AND disabled_at IS NULL FOR UPDATE SKIP LOCKED"
)
_CLAIM = db.Sql(
    f"SELECT {_ENDPOINT_COLUMNS} FROM dualid_webhook"  # noqa: S608
    " WHERE host_id = ? AND disabled_at IS NULL"
)
_OPEN = db.Sql("SELECT created_at FROM dualid_webhook WHERE host_id = ? AND disabled_at IS NULL")
_INSERT_ENDPOINT = db.Sql(
    f"INSERT INTO dualid_webhook ({_ENDPOINT_COLUMNS})"  # noqa: S608
    " VALUES (?, ?, ?, NULL, NULL, NULL, NULL, ?, ?)"
)
_UPDATE_ENDPOINT = db.Sql(
    "UPDATE dualid_webhook SET url = ?, disabled_at = NULL, disabled_reason = NULL,"
    " updated_at = ? WHERE host_id = ?"
)
_ROTATE = db.Sql(
    "UPDATE dualid_webhook SET salt = ?, prev_salt = ?, prev_until = ?, updated_at = ?"
    " WHERE host_id = ?"
)
_DISABLE = db.Sql(
    "UPDATE dualid_webhook SET disabled_at = ?, disabled_reason = ?, updated_at = ?"
    " WHERE host_id = ? AND disabled_at IS NULL"
)
_DELETE_ENDPOINT = db.Sql("DELETE FROM dualid_webhook WHERE host_id = ?")
_INSERT_NOTICE = db.Sql.per_dialect(
    sqlite=f"INSERT INTO dualid_webhook_notice ({_NOTICE_COLUMNS})"  # noqa: S608
    " VALUES (NULL, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, NULL, NULL, ?)",
    postgresql=f"INSERT INTO dualid_webhook_notice ({_NOTICE_COLUMNS})"  # noqa: S608
    " VALUES (nextval('dualid_webhook_notice_seq'), ?, ?, ?, ?, ?, 'pending', 0, ?,"
    " NULL, NULL, NULL, NULL, ?)",
)
# The oldest pending notice of every enabled endpoint: one index probe per endpoint.
_HEADS = db.Sql(
    "SELECT n.host_id, n.seq, n.next_attempt_at FROM dualid_webhook_notice n"
    " WHERE n.seq IN (SELECT (SELECT min(m.seq) FROM dualid_webhook_notice m"
    " WHERE m.host_id = e.host_id AND m.status = 'pending')"
    " FROM dualid_webhook e WHERE e.disabled_at IS NULL) ORDER BY n.seq"
)
_NEXT = db.Sql(
    f"SELECT {_NOTICE_COLUMNS} FROM dualid_webhook_notice"  # noqa: S608
    " WHERE host_id = ? AND status = 'pending' ORDER BY seq LIMIT 1"
)
_RECORD = db.Sql(
    "UPDATE dualid_webhook_notice SET status = ?, attempts = ?, next_attempt_at = ?,"
    " last_attempt_at = ?, delivered_at = ?, last_status = ?, last_error = ?"
    " WHERE seq = ? AND status = 'pending'"
)
_FAIL_PENDING = db.Sql(
    "UPDATE dualid_webhook_notice SET status = 'failed', last_error = ?"
    " WHERE host_id = ? AND status = 'pending'"
)
_BY_ID = (
    f"SELECT {_NOTICE_COLUMNS} FROM dualid_webhook_notice"  # noqa: S608
    " WHERE notice_id IN (*)"
)
_BY_GRANT = (
    f"SELECT {_NOTICE_COLUMNS} FROM dualid_webhook_notice"  # noqa: S608
    " WHERE type = ? AND grant_id IN (*)"
)
_OF_HOST = db.Sql(
    f"SELECT {_NOTICE_COLUMNS} FROM dualid_webhook_notice"  # noqa: S608
    " WHERE host_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
)
_COUNTS = db.Sql("SELECT status, count(*) FROM dualid_webhook_notice GROUP BY status")
# The hosts a person has dealt with (erasure tells each of them): registrations and grants.
_HOSTS_OF_AGENT = db.Sql(
    "SELECT host_id FROM dualid_registration WHERE agent_id = ?"
    " UNION SELECT host_id FROM dualid_grant WHERE agent_id = ? ORDER BY host_id"
)


def _endpoint(rows: list[Any]) -> EndpointRow | None:
    checked = _ENDPOINT_ROW.check(rows)
    if not checked:
        return None
    h, url, salt, prev, until, disabled, reason, created, updated = checked[0]
    return EndpointRow(
        h,
        url,
        salt,
        prev,
        _opt_dt(until),
        _opt_dt(disabled),
        reason,
        db.from_us(created),
        db.from_us(updated),
    )


def _notices(rows: list[Any]) -> list[NoticeRow]:
    out = []
    for r in _NOTICE_ROW.check(rows):
        out.append(
            NoticeRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                db.from_us(r[8]),
                _opt_dt(r[9]),
                _opt_dt(r[10]),
                r[11],
                r[12],
                db.from_us(r[13]),
            )
        )
    return out


# -- endpoints --------------------------------------------------------------------------
def get_endpoint(conn: Conn, host_id: str) -> EndpointRow | None:
    """The host's endpoint, enabled or not, without a lock."""
    return _endpoint(db.query(conn, _GET, (host_id,)))


def open_endpoint(conn: Conn, host_id: str) -> datetime | None:
    """When the host's enabled endpoint was created; None when it has none (the one read
    every change that may report to a host makes)."""
    rows = _CREATED_ROW.check(db.query(conn, _OPEN, (host_id,)))
    return db.from_us(rows[0][0]) if rows else None


def claim_endpoint(conn: Conn, host_id: str) -> EndpointRow | None:
    """The host's enabled endpoint, locked to the end of the transaction; None when it is
    disabled, gone, or (PostgreSQL) another worker holds it."""
    sql = _CLAIM_PG if db.dialect(conn) == "postgresql" else _CLAIM
    return _endpoint(db.query(conn, sql, (host_id,)))


def insert_endpoint(conn: Conn, host_id: str, url: str, salt: bytes, at: datetime) -> None:
    at_us = db.to_us(at)
    db.execute(conn, _INSERT_ENDPOINT, (host_id, url, salt, at_us, at_us))


def update_endpoint(conn: Conn, host_id: str, url: str, at: datetime) -> None:
    """A new URL; a disabled endpoint is enabled again."""
    db.execute(conn, _UPDATE_ENDPOINT, (url, db.to_us(at), host_id))


def rotate_endpoint(
    conn: Conn, host_id: str, salt: bytes, prev_salt: bytes, prev_until: datetime, at: datetime
) -> None:
    params = (salt, prev_salt, db.to_us(prev_until), db.to_us(at), host_id)
    db.execute(conn, _ROTATE, params)


def disable_endpoint(conn: Conn, host_id: str, reason: str, at: datetime) -> int:
    at_us = db.to_us(at)
    return db.execute(conn, _DISABLE, (at_us, reason, at_us, host_id))


def delete_endpoint(conn: Conn, host_id: str) -> int:
    return db.execute(conn, _DELETE_ENDPOINT, (host_id,))


# -- notices ----------------------------------------------------------------------------
def insert_notice(
    conn: Conn,
    notice_id: str,
    host_id: str,
    kind: str,
    grant_id: str | None,
    payload: str,
    at: datetime,
) -> None:
    """A pending notice, due at once; its ``seq`` is the next one."""
    at_us = db.to_us(at)
    params = (notice_id, host_id, kind, grant_id, payload, at_us, at_us)
    db.execute(conn, _INSERT_NOTICE, params)


def heads(conn: Conn) -> list[tuple[str, int, int]]:
    """``(host_id, seq, next_attempt_us)`` of the oldest pending notice of every enabled
    endpoint, oldest first."""
    return _HEAD_ROW.check(db.query(conn, _HEADS))


def next_notice(conn: Conn, host_id: str) -> NoticeRow | None:
    """The host's oldest pending notice."""
    rows = _notices(db.query(conn, _NEXT, (host_id,)))
    return rows[0] if rows else None


def record_attempt(
    conn: Conn,
    seq: int,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime,
    attempted_at: datetime,
    delivered_at: datetime | None,
    http_status: int | None,
    error: str | None,
) -> int:
    """Record one attempt of a pending notice; 0 when it is no longer pending."""
    params = (
        status,
        attempts,
        db.to_us(next_attempt_at),
        db.to_us(attempted_at),
        _opt_us(delivered_at),
        http_status,
        error,
        seq,
    )
    return db.execute(conn, _RECORD, params)


def fail_pending(conn: Conn, host_id: str, reason: str) -> int:
    """Give up the host's pending notices (its endpoint was removed or disabled)."""
    return db.execute(conn, _FAIL_PENDING, (reason, host_id))


def notices_by_id(conn: Conn, notice_ids: Sequence[str]) -> list[NoticeRow]:
    out: list[NoticeRow] = []
    for start in range(0, len(notice_ids), _CHUNK):
        chunk = list(notice_ids[start : start + _CHUNK])
        out += _notices(db.query(conn, db.in_list(_BY_ID, len(chunk)), chunk))
    return out


def notices_by_grant(conn: Conn, kind: str, grant_ids: Sequence[str]) -> list[NoticeRow]:
    """The notices of type ``kind`` about these grants."""
    out: list[NoticeRow] = []
    for start in range(0, len(grant_ids), _CHUNK):
        chunk = list(grant_ids[start : start + _CHUNK])
        out += _notices(db.query(conn, db.in_list(_BY_GRANT, len(chunk)), (kind, *chunk)))
    return out


def notices_of_host(conn: Conn, host_id: str, before: int, limit: int) -> list[NoticeRow]:
    """The host's notices numbered below ``before``, newest first."""
    return _notices(db.query(conn, _OF_HOST, (host_id, before, limit)))


def notice_counts(conn: Conn) -> dict[str, int]:
    """``{status: notices}`` over the whole outbox."""
    return dict(_COUNT_ROW.check(db.query(conn, _COUNTS)))


def hosts_of_agent(conn: Conn, agent_id: str) -> list[str]:
    """The hosts a person has a registration or a grant (in any state) with."""
    return [h for (h,) in _HOST_ROW.check(db.query(conn, _HOSTS_OF_AGENT, (agent_id, agent_id)))]
