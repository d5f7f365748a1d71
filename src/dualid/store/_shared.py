"""Statements of the shared-copy aggregate: ``dualid_shared``, one AES-GCM blob per
registration holding what the person shares with the host for that event (migration
0011), and the per-field copies from before it, which stay in ``dualid_sealed`` (keyed by
the registration id) until they are re-sealed.

These statements move ciphertexts only; sealing and opening are
:mod:`dualid.crypto._shared`'s. Every write runs under the owning person's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _sql as db
from ._events import ATTENDEE_ROW
from ._rows import BLOB, FIELDS, INT, TEXT, Shape
from ._sql import Conn

__all__ = [
    "CopyRow",
    "SharedRow",
    "all_copies",
    "bound_of",
    "conn_of",
    "copies_of",
    "copy_fields",
    "delete_copies",
    "event_page",
    "fields_of",
    "has_copies",
    "put_copies",
]

_CHUNK = 500

SharedRow = tuple[str, str, str, int, bytes, int]
"""A ``dualid_shared`` row in column order: registration_id, agent_id, fields,
dek_version, ciphertext, sealed_at (microseconds since the epoch)."""

CopyRow = tuple[str, str, str, int, bytes]
"""What opening needs: registration_id, agent_id, fields, dek_version, ciphertext."""

PageRow = tuple[str, str, str, str | None, int | None, bytes | None]
"""The host view's row: registration_id, agent_id, event_type, then the copy's fields,
dek_version and ciphertext (None without a copy)."""

_TABLE = "dualid_shared"
_COPY_ROW = Shape(
    _TABLE, registration_id=TEXT, agent_id=TEXT, fields=FIELDS, dek_version=INT, ciphertext=BLOB
)
_FIELDS_ROW = Shape(_TABLE, registration_id=TEXT, fields=FIELDS)
_DELETE = "DELETE FROM dualid_shared WHERE registration_id IN (*)"
_INSERT = db.Sql(
    "INSERT INTO dualid_shared"
    " (registration_id, agent_id, fields, dek_version, ciphertext, sealed_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_COPIES = (
    "SELECT registration_id, agent_id, fields, dek_version, ciphertext FROM dualid_shared"
    " WHERE registration_id IN (*)"
)
_FIELDS = "SELECT registration_id, fields FROM dualid_shared WHERE registration_id IN (*)"
_PAGE_COLUMNS = (
    "SELECT r.registration_id, r.agent_id, r.event_type, c.fields, c.dek_version,"
    " c.ciphertext FROM dualid_registration r"
    " LEFT JOIN dualid_shared c ON c.registration_id = r.registration_id"
    " WHERE r.host_id = ? AND r.event_id = ?"
)
_PAGE = db.Sql(_PAGE_COLUMNS + " AND r.registration_id > ? ORDER BY r.registration_id LIMIT ?")
_EVENT = db.Sql(_PAGE_COLUMNS + " ORDER BY r.registration_id")
# Every copy in key order, for audit.verify(deep=True) (the field lists, no values).
_ALL_FIRST = db.Sql(
    "SELECT registration_id, fields, agent_id FROM dualid_shared ORDER BY registration_id LIMIT ?"
)
_ALL_NEXT = db.Sql(
    "SELECT registration_id, fields, agent_id FROM dualid_shared WHERE registration_id > ?"
    " ORDER BY registration_id LIMIT ?"
)


_BOUND = (
    "SELECT registration_id, host_id, event_id FROM dualid_registration"
    " WHERE registration_id IN (*)"
)
_BOUND_ROW = Shape("dualid_registration", registration_id=TEXT, host_id=TEXT, event_id=TEXT)
_ALL_OF_AGENT = db.Sql(
    "SELECT registration_id, agent_id, fields, dek_version, ciphertext FROM dualid_shared"
    " ORDER BY registration_id"
)


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


def put_copies(conn: Conn, rows: Sequence[SharedRow]) -> None:
    """Write these copies, replacing the registrations' copies (under their lock)."""
    if rows:
        delete_copies(conn, [r[0] for r in rows])
        db.executemany(conn, _INSERT, rows)


def delete_copies(conn: Conn, registration_ids: Sequence[str]) -> int:
    """Delete the copies of ``registration_ids``; how many there were."""
    return sum(
        db.execute(conn, db.in_list(_DELETE, len(chunk)), chunk)
        for chunk in _chunks(registration_ids)
    )


def copies_of(conn: Conn, registration_ids: Sequence[str]) -> list[CopyRow]:
    """The copies of ``registration_ids``, ready to open."""
    out: list[Any] = []
    for chunk in _chunks(registration_ids):
        out += _COPY_ROW.check(db.query(conn, db.in_list(_COPIES, len(chunk)), chunk))
    return out


def fields_of(conn: Conn, registration_ids: Sequence[str]) -> dict[str, set[str]]:
    """``{registration_id: {field, ...}}`` of the copies that exist (nothing decrypted)."""
    out: dict[str, set[str]] = {}
    for chunk in _chunks(registration_ids):
        for reg_id, fields in _FIELDS_ROW.check(
            db.query(conn, db.in_list(_FIELDS, len(chunk)), chunk)
        ):
            out[reg_id] = set(fields.split(","))
    return out


def event_page(
    conn: Conn, host_id: str, event_id: str, *, after: str = "", limit: int | None = None
) -> list[PageRow]:
    """The event's registrations in registration order (after the cursor ``after``, at
    most ``limit``), each with its copy: one statement per page of the host view. Only
    the registration's columns are checked here (thousands of rows):
    :func:`dualid.crypto._shared.open_copies` refuses a copy of the wrong types itself."""
    if limit is None and not after:
        rows = db.query(conn, _EVENT, (host_id, event_id))
    else:
        bound = limit if limit is not None else 2**62
        rows = db.query(conn, _PAGE, (host_id, event_id, after, bound))
    return ATTENDEE_ROW.check(rows)


def copy_fields(conn: Conn, after: str | None, limit: int) -> list[tuple[Any, ...]]:
    """``(registration_id, fields, agent_id)`` of the next ``limit`` copies after
    ``after`` (from the first when None), in key order, unchecked
    (``audit.verify(deep=True)`` compares every value with the log)."""
    if after is None:
        return db.query(conn, _ALL_FIRST, (limit,))
    return db.query(conn, _ALL_NEXT, (after, limit))


def bound_of(conn: Conn, registration_ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """What each registration's copy is bound to: ``{registration_id: (registration_id,
    host_id, event_id)}`` of the registrations that exist."""
    out: dict[str, tuple[str, str, str]] = {}
    for chunk in _chunks(registration_ids):
        for row in _BOUND_ROW.check(db.query(conn, db.in_list(_BOUND, len(chunk)), chunk)):
            out[row[0]] = row
    return out


def all_copies(conn: Conn) -> list[CopyRow]:
    """Every copy (a schema downgrade turns them back into per-field rows)."""
    return _COPY_ROW.check(db.query(conn, _ALL_OF_AGENT))


def conn_of(connection: Any) -> Conn:
    """The :class:`Conn` of a SQLAlchemy connection in a migration (a downgrade's
    re-seal runs the store's statements in the migration's transaction)."""
    return Conn(connection.connection.dbapi_connection, connection.dialect.name)


_ANY = db.Sql("SELECT 1 FROM dualid_shared LIMIT 1")


def has_copies(conn: Conn) -> bool:
    """Does any registration have a shared copy sealed as one blob?"""
    return bool(db.query(conn, _ANY))
