"""Statements of the audit aggregate: the entries of the hash chain and its head row.

The chain's maths (canonical bodies, hashes, verification) is :mod:`dualid.audit`'s;
here are only the statements it runs. The head row is locked by every append (``SELECT
... FOR UPDATE`` on PostgreSQL; SQLite write transactions are exclusive), as the last
lock a write takes (``docs/concurrency.md``), and held to the commit.

Host reads take no lock that writers need: they read one snapshot, and the entry that
records the read names where in the log that snapshot stands (:func:`begin_snapshot`).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _sql as db
from ._sql import Conn

__all__ = [
    "EntryRow",
    "append_one_postgresql",
    "begin_snapshot",
    "chain_rows",
    "entries",
    "head",
    "insert_entries",
    "lock_head",
    "set_head",
]

EntryRow = tuple[int, str | None, str, str, str]
"""A ``dualid_audit`` row in column order: seq, subject, body, prev_hash, entry_hash."""

_REPEATABLE_READ = db.Sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
_HEAD = db.Sql("SELECT seq, entry_hash FROM dualid_audit_head WHERE id = 1")
_HEAD_FOR_UPDATE = db.Sql("SELECT seq, entry_hash FROM dualid_audit_head WHERE id = 1 FOR UPDATE")
_HEAD_SEQ = db.Sql("SELECT seq FROM dualid_audit_head WHERE id = 1")
_INSERT = db.Sql(
    "INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?)"
)
_SET_HEAD = db.Sql("UPDATE dualid_audit_head SET seq = ?, entry_hash = ? WHERE id = 1")
_ENTRIES = db.Sql(
    "SELECT seq, body, entry_hash FROM dualid_audit WHERE seq > ? ORDER BY seq LIMIT ?"
)
_ENTRIES_OF = db.Sql(
    "SELECT seq, body, entry_hash FROM dualid_audit WHERE seq > ? AND subject = ?"
    " ORDER BY seq LIMIT ?"
)
_CHAIN = db.Sql(
    "SELECT seq, subject, body, prev_hash, entry_hash FROM dualid_audit WHERE seq > ?"
    " ORDER BY seq LIMIT ?"
)
# One round trip for the whole append on PostgreSQL: lock the head, insert the entry and
# move the head in one statement, the entry's hash computed by the server with the very
# formula verify() checks (SHA-256 over the previous hash's bytes and the UTF-8 body). The
# body's text after its sequence number does not depend on it, so the caller sends that
# part and the server prefixes the number it read under the lock. Holding the chain-head
# lock for one statement and the commit (instead of three statements and the commit) is
# what lets concurrent writers through.
_APPEND_ONE_PG = db.Sql(
    "WITH h AS (SELECT seq + 1 AS seq, entry_hash AS prev FROM dualid_audit_head"
    " WHERE id = 1 FOR UPDATE),"
    " b AS (SELECT seq, prev, '{\"seq\":' || seq || CAST(? AS TEXT) AS body FROM h),"
    " e AS (SELECT seq, prev, body,"
    " encode(sha256(decode(prev, 'hex') || convert_to(body, 'UTF8')), 'hex') AS entry_hash"
    " FROM b),"
    " i AS (INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash)"
    " SELECT seq, CAST(? AS VARCHAR), body, prev, entry_hash FROM e)"
    " UPDATE dualid_audit_head SET seq = e.seq, entry_hash = e.entry_hash FROM e"
    " WHERE dualid_audit_head.id = 1 RETURNING e.seq"
)
_NO_LIMIT = 2**62


def head(conn: Conn) -> tuple[int, str]:
    """``(seq, entry_hash)`` of the chain head, without a lock."""
    ((seq, entry_hash),) = db.query(conn, _HEAD)
    return int(seq), str(entry_hash)


def lock_head(conn: Conn) -> tuple[int, str]:
    """``(seq, entry_hash)`` of the chain head, locked to the end of the transaction."""
    sql = _HEAD_FOR_UPDATE if db.dialect(conn) == "postgresql" else _HEAD
    ((seq, entry_hash),) = db.query(conn, sql)
    return int(seq), str(entry_hash)


def insert_entries(conn: Conn, rows: Sequence[EntryRow]) -> None:
    db.executemany(conn, _INSERT, rows)


def set_head(conn: Conn, seq: int, entry_hash: str) -> None:
    db.execute(conn, _SET_HEAD, (seq, entry_hash))


def append_one_postgresql(conn: Conn, body_after_seq: str, subject: str | None) -> int:
    """Append one entry whose body is ``{"seq":<next>`` + ``body_after_seq`` in one
    statement (PostgreSQL only); its sequence number."""
    ((seq,),) = db.query(conn, _APPEND_ONE_PG, (body_after_seq, subject))
    return int(seq)


def entries(
    conn: Conn, *, subject: str | None = None, after: int = 0, limit: int | None = None
) -> list[tuple[int, str, str]]:
    """``(seq, body, entry_hash)`` of the entries after ``after`` (of one subject)."""
    bound = _NO_LIMIT if limit is None else limit
    if subject is None:
        return db.query(conn, _ENTRIES, (after, bound))
    return db.query(conn, _ENTRIES_OF, (after, subject, bound))


def chain_rows(conn: Conn, after: int, limit: int) -> list[EntryRow]:
    """The next ``limit`` entries after ``after``, every column (verification)."""
    return db.query(conn, _CHAIN, (after, limit))


def begin_snapshot(conn: Conn) -> int:
    """Make the rest of this read transaction one consistent snapshot and return the
    sequence number of the last audit entry it contains.

    Must be the first statement of the transaction. On PostgreSQL the transaction becomes
    REPEATABLE READ (the snapshot is taken by the head read, its first query); a SQLite
    read transaction (WAL) is a snapshot from its first read. Every change commits
    together with its audit entry and the head row, so the snapshot holds exactly the
    changes logged up to the returned position."""
    if db.dialect(conn) == "postgresql":
        db.execute(conn, _REPEATABLE_READ)
    ((seq,),) = db.query(conn, _HEAD_SEQ)
    return int(seq)
