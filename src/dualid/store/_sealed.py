"""Statements of the sealed-field aggregate: ``dualid_sealed``, one AES-GCM ciphertext
per field of a record (a profile ``p:<agentId>``, a userId ``u:<agentId>``, or a
registration's shared copy, keyed by the registration id).

These statements move ciphertexts only; sealing and opening are :mod:`dualid.crypto`'s
(no I/O there). Every write runs under the owning person's lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import _sql as db
from ._rows import BLOB, INT, TEXT, Shape
from ._sql import Conn

__all__ = [
    "SealedRow",
    "copy_fields",
    "copy_records_of",
    "delete_fields",
    "delete_fields_except",
    "event_copies",
    "fields_present",
    "has_copy_fields",
    "insert_sealed",
    "key_and_record",
    "legacy_copy_agents",
    "records",
    "sealed_of_agent",
]

_CHUNK = 500

SealedRow = tuple[str, str, str, int, bytes, int]
"""A ``dualid_sealed`` row in column order: record_id, field, agent_id, dek_version,
ciphertext, sealed_at (microseconds since the epoch)."""

OpenableRow = tuple[str, str, str, int, bytes]
"""What opening needs: record_id, field, agent_id, dek_version, ciphertext."""

_SEALED = "dualid_sealed"
_OPENABLE_ROW = Shape(
    _SEALED, record_id=TEXT, field=TEXT, agent_id=TEXT, dek_version=INT, ciphertext=BLOB
)
_PRESENT_ROW = Shape(_SEALED, record_id=TEXT, field=TEXT)
_AGENT_ROW = Shape(_SEALED, agent_id=TEXT)
_OF_AGENT_ROW = Shape(_SEALED, record_id=TEXT, field=TEXT, ciphertext=BLOB)
_KEY_AND_RECORD_ROW = Shape(
    "dualid_agent_key", master_key_id=TEXT, dek_version=INT, wrapped=BLOB
) + Shape(_SEALED, field=TEXT.or_null(), dek_version=INT.or_null(), ciphertext=BLOB.or_null())
_INSERT = db.Sql(
    "INSERT INTO dualid_sealed (record_id, field, agent_id, dek_version, ciphertext, sealed_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_DELETE_RECORD = db.Sql("DELETE FROM dualid_sealed WHERE record_id = ?")
_DELETE_FIELDS = "DELETE FROM dualid_sealed WHERE record_id = ? AND field IN (*)"
_DELETE_EXCEPT = "DELETE FROM dualid_sealed WHERE record_id = ? AND field NOT IN (*)"
_RECORDS = (
    "SELECT record_id, field, agent_id, dek_version, ciphertext FROM dualid_sealed"
    " WHERE record_id IN (*)"
)
_PRESENT = "SELECT record_id, field FROM dualid_sealed WHERE record_id IN (*)"
_EVENT_COPIES = db.Sql(
    "SELECT s.record_id, s.field, s.agent_id, s.dek_version, s.ciphertext"
    " FROM dualid_registration r JOIN dualid_sealed s ON s.record_id = r.registration_id"
    " WHERE r.host_id = ? AND r.event_id = ? AND r.registration_id >= ?"
    " AND r.registration_id <= ?"
)
_KEY_AND_RECORD = db.Sql(
    "SELECT k.master_key_id, k.dek_version, k.wrapped, s.field, s.dek_version, s.ciphertext"
    " FROM dualid_agent_key k LEFT JOIN dualid_sealed s ON s.record_id = ?"
    " WHERE k.agent_id = ?"
)
_OF_AGENT = db.Sql(
    "SELECT record_id, field, ciphertext FROM dualid_sealed WHERE agent_id = ?"
    " ORDER BY record_id, field"
)

# The rows of every record that is neither a profile ("p:<agentId>") nor a userId
# ("u:<agentId>"), that is the registrations' shared copies, in primary-key order (pages
# by key: the server's collation orders both the comparison and the sort, so pages
# neither skip nor repeat a row).
_COPY_FIELDS_FIRST = db.Sql(
    "SELECT record_id, field, agent_id FROM dualid_sealed"
    " WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:') ORDER BY record_id, field LIMIT ?"
)
_COPY_FIELDS_NEXT = db.Sql(
    "SELECT record_id, field, agent_id FROM dualid_sealed"
    " WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:')"
    " AND (record_id > ? OR (record_id = ? AND field > ?)) ORDER BY record_id, field LIMIT ?"
)


# The copies from before migration 0011 (one row per field of a registration's record):
# whose they are, and each person's, for their re-seal into dualid_shared.
_LEGACY_AGENTS = db.Sql(
    "SELECT DISTINCT agent_id FROM dualid_sealed"
    " WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:') AND agent_id > ?"
    " ORDER BY agent_id LIMIT ?"
)
_LEGACY_OF_AGENT = db.Sql(
    "SELECT record_id, field, agent_id, dek_version, ciphertext FROM dualid_sealed"
    " WHERE agent_id = ? AND substr(record_id, 1, 2) NOT IN ('p:', 'u:')"
)


_ANY_COPY = db.Sql(
    "SELECT 1 FROM dualid_sealed WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:') LIMIT 1"
)


def has_copy_fields(conn: Conn) -> bool:
    """Are there per-field shared copies left (from before migration 0011)? One probe of
    the partial index ``ix_dualid_sealed_copies``, which holds only those rows."""
    return bool(db.query(conn, _ANY_COPY))


def legacy_copy_agents(conn: Conn, limit: int, *, after: str = "") -> list[str]:
    """Up to ``limit`` agents after ``after`` (in agentId order) that still have per-field
    shared copies (from before migration 0011)."""
    rows = _AGENT_ROW.check(db.query(conn, _LEGACY_AGENTS, (after, limit)))
    return [agent for (agent,) in rows]


def copy_records_of(conn: Conn, agent_id: str) -> list[OpenableRow]:
    """Every per-field shared-copy row of one agent, ready to open."""
    return _OPENABLE_ROW.check(db.query(conn, _LEGACY_OF_AGENT, (agent_id,)))


def insert_sealed(conn: Conn, rows: Sequence[SealedRow]) -> None:
    db.executemany(conn, _INSERT, rows)


def delete_fields(conn: Conn, record_id: str, fields: Iterable[str] | None = None) -> int:
    """Delete the rows of ``record_id`` (only ``fields``, when given); how many."""
    if fields is None:
        return db.execute(conn, _DELETE_RECORD, (record_id,))
    names = list(fields)
    if not names:
        return 0
    return db.execute(conn, db.in_list(_DELETE_FIELDS, len(names)), (record_id, *names))


def delete_fields_except(conn: Conn, record_id: str, keep: Sequence[str]) -> int:
    """Delete every row of ``record_id`` whose field is not in ``keep``; how many."""
    if not keep:
        return delete_fields(conn, record_id)
    return db.execute(conn, db.in_list(_DELETE_EXCEPT, len(keep)), (record_id, *keep))


def records(conn: Conn, record_ids: Sequence[str]) -> list[OpenableRow]:
    """Every sealed row of ``record_ids``, ready to open."""
    out: list[Any] = []
    for start in range(0, len(record_ids), _CHUNK):
        chunk = list(record_ids[start : start + _CHUNK])
        out += _OPENABLE_ROW.check(db.query(conn, db.in_list(_RECORDS, len(chunk)), chunk))
    return out


def fields_present(conn: Conn, record_ids: Sequence[str]) -> dict[str, set[str]]:
    """``{record_id: {field, ...}}`` of the rows that exist (nothing is decrypted)."""
    out: dict[str, set[str]] = {}
    for start in range(0, len(record_ids), _CHUNK):
        chunk = list(record_ids[start : start + _CHUNK])
        rows = db.query(conn, db.in_list(_PRESENT, len(chunk)), chunk)
        for record_id, field in _PRESENT_ROW.check(rows):
            out.setdefault(record_id, set()).add(field)
    return out


def event_copies(
    conn: Conn, host_id: str, event_id: str, first_registration: str, last_registration: str
) -> list[OpenableRow]:
    """The shared copies of an event's registrations in one registration-id range (one
    page of the host view), ready to open. Not checked here (tens of thousands of rows):
    :func:`dualid.crypto._fields.open_rows` refuses a row of the wrong types itself."""
    params = (host_id, event_id, first_registration, last_registration)
    return db.query(conn, _EVENT_COPIES, params)


def key_and_record(
    conn: Conn, agent_id: str, record_id: str
) -> list[tuple[str, int, bytes, str | None, int | None, bytes | None]]:
    """The agent's wrapped data key joined with the rows of one of its records, in one
    statement (one snapshot without a transaction): ``(master_key_id, dek_version,
    wrapped, field, field_dek_version, ciphertext)``; the last three are None when the
    record has no rows; an empty list when the agent has no key (unknown or erased)."""
    return _KEY_AND_RECORD_ROW.check(db.query(conn, _KEY_AND_RECORD, (record_id, agent_id)))


def copy_fields(conn: Conn, after: tuple[str, str] | None, limit: int) -> list[tuple[Any, ...]]:
    """``(record_id, field, agent_id)`` of the next ``limit`` rows of shared copies (every
    record but profiles and userIds) after ``(record_id, field)`` (from the first when
    None), in key order: nothing is decrypted and nothing checked
    (``audit.verify(deep=True)``)."""
    if after is None:
        return db.query(conn, _COPY_FIELDS_FIRST, (limit,))
    record, field = after
    return db.query(conn, _COPY_FIELDS_NEXT, (record, record, field, limit))


def sealed_of_agent(conn: Conn, agent_id: str) -> list[tuple[str, str, bytes]]:
    """``(record_id, field, ciphertext)`` of every row of one agent (the demo shows what
    the database holds)."""
    return _OF_AGENT_ROW.check(db.query(conn, _OF_AGENT, (agent_id,)))
