"""Statements of the audit aggregate: the partitions' hash chains, their head rows, and
the signed checkpoints.

The chain's maths (canonical bodies, hashes, Merkle trees, verification) is
:mod:`dualid.audit`'s; here are only the statements it runs. The log is a fixed number of
partitions (migration 0006), each a hash chain with a head row. A transaction appends to
one partition only, and locks that partition's head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite write transactions are already exclusive) as the last lock it takes
(``docs/concurrency.md``), held to the commit: writers of other partitions never wait on it.

Host reads take no lock that writers need: they read one snapshot, and the entry that
records the read names where in the log that snapshot stands (:func:`begin_snapshot`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from . import _sql as db
from ._rows import BLOB, HASH, INT, TEXT, TEXT_OR_NULL, Shape
from ._sql import Conn

__all__ = [
    "EntryRow",
    "append_one_postgresql",
    "begin_snapshot",
    "checkpoint_at",
    "claim_partition",
    "entries",
    "heads",
    "insert_checkpoint",
    "insert_entries",
    "insert_entry",
    "insert_tiles",
    "latest_checkpoint",
    "lock_head",
    "next_seqs",
    "partition_hashes",
    "partition_of",
    "partition_rows",
    "position_of",
    "rows_outside",
    "set_head",
    "tile_count",
    "tiles",
]

EntryRow = tuple[int, int, int, str | None, str, str, str]
"""A ``dualid_audit`` row: seq, part, pseq, subject, body, prev_hash, entry_hash."""

HeadRow = tuple[int, int, int, str]
"""A ``dualid_audit_head`` row: part, pseq, seq, entry_hash."""

# What the SDK reads back (store._rows). The verifier reads the chain's rows unchecked
# (partition_rows(checked=False)): a row that does not fit is tampering it reports.
_HEAD_ROW = Shape("dualid_audit_head", id=INT, pseq=INT, seq=INT, entry_hash=HASH)
_LOCKED_HEAD_ROW = Shape("dualid_audit_head", pseq=INT, seq=INT, entry_hash=HASH)
_HEAD_SEQ_ROW = Shape("dualid_audit_head", seq=INT)
_ENTRY_ROW = Shape(
    "dualid_audit", seq=INT, body=TEXT, prev_hash=HASH, entry_hash=HASH, part=INT, pseq=INT
)
_CHAIN_ROW = Shape(
    "dualid_audit",
    seq=INT,
    part=INT,
    pseq=INT,
    subject=TEXT_OR_NULL,
    body=TEXT,
    prev_hash=HASH,
    entry_hash=HASH,
)
_POSITION_ROW = Shape("dualid_audit", part=INT, pseq=INT)
_HASH_ROW = Shape("dualid_audit", pseq=INT, entry_hash=HASH)
_SEQ_ROW = Shape("dualid_audit", seq=INT)
_CHECKPOINT_ROW = Shape("dualid_audit_checkpoint", size=INT, note=TEXT, ranges=TEXT)
_TILE_ROW = Shape("dualid_audit_tile", idx=INT, root=BLOB)
_COUNT_ROW = Shape("dualid_audit_tile", count=INT)
_REPEATABLE_READ = db.Sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
_HEADS = db.Sql("SELECT id, pseq, seq, entry_hash FROM dualid_audit_head ORDER BY id")
_HEAD_FOR_UPDATE = db.Sql(
    "SELECT pseq, seq, entry_hash FROM dualid_audit_head WHERE id = ? FOR UPDATE"
)
_HEAD = db.Sql("SELECT pseq, seq, entry_hash FROM dualid_audit_head WHERE id = ?")
_HEAD_SEQS = db.Sql("SELECT seq FROM dualid_audit_head ORDER BY id")
_NEXTVALS = db.Sql("SELECT nextval('dualid_audit_seq') FROM generate_series(1, ?)")
_INSERT = db.Sql(
    "INSERT INTO dualid_audit (seq, part, pseq, subject, body, prev_hash, entry_hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SET_HEAD = db.Sql("UPDATE dualid_audit_head SET pseq = ?, seq = ?, entry_hash = ? WHERE id = ?")
_ENTRIES = db.Sql(
    "SELECT seq, body, prev_hash, entry_hash, part, pseq FROM dualid_audit WHERE seq > ?"
    " ORDER BY seq LIMIT ?"
)
_ENTRIES_OF = db.Sql(
    "SELECT seq, body, prev_hash, entry_hash, part, pseq FROM dualid_audit"
    " WHERE seq > ? AND subject = ? ORDER BY seq LIMIT ?"
)
_PARTITION = db.Sql(
    "SELECT seq, part, pseq, subject, body, prev_hash, entry_hash FROM dualid_audit"
    " WHERE part = ? AND pseq > ? ORDER BY pseq LIMIT ?"
)
_POSITION = db.Sql("SELECT part, pseq FROM dualid_audit WHERE seq = ?")
_PARTITION_HASHES = db.Sql(
    "SELECT pseq, entry_hash FROM dualid_audit WHERE part = ? AND pseq > ? ORDER BY pseq LIMIT ?"
)
_OUTSIDE = db.Sql("SELECT count(*) FROM dualid_audit WHERE part < 0 OR part >= ?")
_LATEST_CHECKPOINT = db.Sql(
    "SELECT size, note, ranges FROM dualid_audit_checkpoint ORDER BY size DESC LIMIT 1"
)
_CHECKPOINT_AT = db.Sql(
    "SELECT size, note, ranges FROM dualid_audit_checkpoint WHERE size <= ?"
    " ORDER BY size DESC LIMIT 1"
)
_INSERT_CHECKPOINT = db.Sql.per_dialect(
    sqlite="INSERT OR IGNORE INTO dualid_audit_checkpoint (size, note, ranges, created_at)"
    " VALUES (?, ?, ?, ?)",
    postgresql="INSERT INTO dualid_audit_checkpoint (size, note, ranges, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT (size) DO NOTHING",
)
_TILES = db.Sql("SELECT idx, root FROM dualid_audit_tile WHERE part = ? AND idx < ? ORDER BY idx")
_TILE_COUNT = db.Sql("SELECT COALESCE(MAX(idx) + 1, 0) FROM dualid_audit_tile WHERE part = ?")
_INSERT_TILES = db.Sql.per_dialect(
    sqlite="INSERT OR IGNORE INTO dualid_audit_tile (part, idx, root) VALUES (?, ?, ?)",
    postgresql="INSERT INTO dualid_audit_tile (part, idx, root) VALUES (?, ?, ?)"
    " ON CONFLICT (part, idx) DO NOTHING",
)
# One round trip for a whole one-entry append on PostgreSQL: lock the partition's head,
# take the log-wide number from the sequence (after the lock, so numbers increase along
# each partition), insert the entry and move the head, the entry's hash computed by the
# server with the very formula verify() checks (SHA-256 over the previous hash's bytes and
# the UTF-8 body). The body's text after its sequence number does not depend on it, so the
# caller sends that part and the server prefixes the number. Holding the head lock for one
# statement and the commit is what lets the partition's other writers through quickly.
# A head whose hash is not a digest is not selected (decode() would fail the statement):
# the caller then learns from lock_head() whether the row is missing or unreadable.
_APPEND_ONE_PG = db.Sql(
    "WITH h AS (SELECT pseq + 1 AS pseq, entry_hash AS prev FROM dualid_audit_head"
    " WHERE id = ? AND entry_hash ~ '^[0-9a-f]{64}$' FOR UPDATE),"
    " s AS (SELECT pseq, prev, nextval('dualid_audit_seq') AS seq FROM h),"
    " b AS (SELECT seq, pseq, prev, '{\"seq\":' || seq || CAST(? AS TEXT) AS body FROM s),"
    " e AS (SELECT seq, pseq, prev, body,"
    " encode(sha256(decode(prev, 'hex') || convert_to(body, 'UTF8')), 'hex') AS entry_hash"
    " FROM b),"
    " i AS (INSERT INTO dualid_audit (seq, part, pseq, subject, body, prev_hash, entry_hash)"
    " SELECT seq, CAST(? AS SMALLINT), pseq, CAST(? AS VARCHAR), body, prev, entry_hash"
    " FROM e)"
    " UPDATE dualid_audit_head SET pseq = e.pseq, seq = e.seq, entry_hash = e.entry_hash"
    " FROM e WHERE dualid_audit_head.id = ? RETURNING e.seq"
)
_NO_LIMIT = 2**62


def partition_of(subject: str | None, host_id: str | None, partitions: int) -> int:
    """The partition for entries about this subject (else host): a stable hash, so one
    person's entries stay in one partition."""
    if partitions <= 1:
        return 0
    return zlib.crc32((subject or host_id or "").encode()) % partitions


def claim_partition(conn: Conn, subject: str | None, host_id: str | None = None) -> int:
    """The partition this transaction appends to: fixed by its first claim, which is the
    person's lock where there is one (:func:`dualid.store._agents.lock_agent`, the first
    lock a write takes), else its first entry. A transaction never appends to two."""
    part = conn.audit_part
    if part is None:
        part = conn.audit_part = partition_of(subject, host_id, conn.audit_partitions)
    return part


def heads(conn: Conn) -> list[HeadRow]:
    """Every partition's ``(part, pseq, seq, entry_hash)``, by partition, without a lock."""
    return _HEAD_ROW.check(db.query(conn, _HEADS))


def lock_head(conn: Conn, part: int) -> tuple[int, int, str] | None:
    """``(pseq, seq, entry_hash)`` of partition ``part``'s head, locked to the end of the
    transaction; None when the partition has no head row."""
    sql = _HEAD_FOR_UPDATE if db.dialect(conn) == "postgresql" else _HEAD
    rows = _LOCKED_HEAD_ROW.check(db.query(conn, sql, (part,)))
    if not rows:
        return None
    ((pseq, seq, entry_hash),) = rows
    return pseq, seq, entry_hash


def next_seqs(conn: Conn, count: int) -> list[int]:
    """``count`` fresh log-wide numbers from the sequence (PostgreSQL only)."""
    return [s for (s,) in _SEQ_ROW.check(db.query(conn, _NEXTVALS, (count,)))]


def insert_entries(conn: Conn, rows: Sequence[EntryRow]) -> None:
    db.executemany(conn, _INSERT, rows)


def insert_entry(conn: Conn, row: EntryRow) -> None:
    db.execute(conn, _INSERT, row)


def set_head(conn: Conn, part: int, pseq: int, seq: int, entry_hash: str) -> None:
    db.execute(conn, _SET_HEAD, (pseq, seq, entry_hash, part))


def append_one_postgresql(
    conn: Conn, part: int, body_after_seq: str, subject: str | None
) -> int | None:
    """Append one entry to partition ``part`` whose body is ``{"seq":<next>`` +
    ``body_after_seq`` in one statement (PostgreSQL only); its sequence number, None when
    the partition has no head row; :class:`~dualid.errors.CorruptRow` when its head row
    cannot be read."""
    rows = _SEQ_ROW.check(
        db.query(conn, _APPEND_ONE_PG, (part, body_after_seq, part, subject, part))
    )
    if not rows:
        lock_head(conn, part)  # raises CorruptRow for an unreadable head row
        return None
    seq: int = rows[0][0]
    return seq


def entries(
    conn: Conn, *, subject: str | None = None, after: int = 0, limit: int | None = None
) -> list[tuple[int, str, str, str, int, int]]:
    """``(seq, body, prev_hash, entry_hash, part, pseq)`` of the entries after ``after``
    (of one subject), in log-wide order."""
    bound = _NO_LIMIT if limit is None else limit
    if subject is None:
        return _ENTRY_ROW.check(db.query(conn, _ENTRIES, (after, bound)))
    return _ENTRY_ROW.check(db.query(conn, _ENTRIES_OF, (after, subject, bound)))


def partition_rows(
    conn: Conn, part: int, after_pseq: int, limit: int, *, checked: bool = True
) -> list[EntryRow]:
    """The next ``limit`` entries of partition ``part`` after position ``after_pseq``,
    every column (verification, proofs, checkpoints); ``checked=False`` for the verifier,
    which reports a row that does not fit instead of raising CorruptRow."""
    rows = db.query(conn, _PARTITION, (part, after_pseq, limit))
    return _CHAIN_ROW.check(rows) if checked else rows


def partition_hashes(conn: Conn, part: int, after_pseq: int, limit: int) -> list[tuple[int, str]]:
    """``(pseq, entry_hash)`` of the next ``limit`` entries of partition ``part`` after
    ``after_pseq``: what a Merkle proof needs, without the bodies."""
    return _HASH_ROW.check(db.query(conn, _PARTITION_HASHES, (part, after_pseq, limit)))


def position_of(conn: Conn, seq: int) -> tuple[int, int] | None:
    """``(part, pseq)`` of the entry numbered ``seq``."""
    rows = _POSITION_ROW.check(db.query(conn, _POSITION, (seq,)))
    return (rows[0][0], rows[0][1]) if rows else None


def rows_outside(conn: Conn, partitions: int) -> int:
    """How many entries name a partition outside ``0 .. partitions - 1``."""
    ((count,),) = db.query(conn, _OUTSIDE, (partitions,))
    return int(count)


def latest_checkpoint(conn: Conn) -> tuple[int, str, str] | None:
    """``(size, note, ranges)`` of the largest stored checkpoint."""
    rows = _CHECKPOINT_ROW.check(db.query(conn, _LATEST_CHECKPOINT))
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def checkpoint_at(conn: Conn, size: int) -> tuple[int, str, str] | None:
    """The largest stored checkpoint of at most ``size`` entries."""
    rows = _CHECKPOINT_ROW.check(db.query(conn, _CHECKPOINT_AT, (size,)))
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def insert_checkpoint(conn: Conn, size: int, note: str, ranges: str, created_us: int) -> None:
    """Keep a checkpoint; one of the same size already kept stays (it says the same)."""
    db.execute(conn, _INSERT_CHECKPOINT, (size, note, ranges, created_us))


def tiles(conn: Conn, part: int, count: int) -> list[tuple[int, bytes]]:
    """``(idx, root)`` of partition ``part``'s stored tiles numbered below ``count``: the
    Merkle heads of its leaves ``[idx * 256, idx * 256 + 256)`` (migration 0012)."""
    return _TILE_ROW.check(db.query(conn, _TILES, (part, count)))


def tile_count(conn: Conn, part: int) -> int:
    """One past the highest stored tile of partition ``part`` (0 when it has none)."""
    ((count,),) = _COUNT_ROW.check(db.query(conn, _TILE_COUNT, (part,)))
    return int(count)


def insert_tiles(conn: Conn, rows: Sequence[tuple[int, int, bytes]]) -> None:
    """Keep ``(part, idx, root)`` tiles; a tile already kept stays (it says the same)."""
    if rows:
        db.executemany(conn, _INSERT_TILES, rows)


def begin_snapshot(conn: Conn) -> tuple[int, ...]:
    """Make the rest of this read transaction one consistent snapshot and return where in
    the log it stands: for each partition, the log-wide number of its newest entry the
    snapshot contains (0 for an empty one).

    Must be the first statement of the transaction. On PostgreSQL the transaction becomes
    REPEATABLE READ (the snapshot is taken by the head read, its first query); a SQLite
    read transaction (WAL) is a snapshot from its first read. Every change commits
    together with its audit entry and its partition's head row, and numbers increase along
    each partition, so the snapshot holds exactly the changes whose entry ``e`` has
    ``e.seq <= position[e.partition]``. (One number for the whole log would not do: with
    several partitions an entry numbered lower than another partition's head may still be
    in flight.)"""
    if db.dialect(conn) == "postgresql":
        db.execute(conn, _REPEATABLE_READ)
    return tuple(seq for (seq,) in _HEAD_SEQ_ROW.check(db.query(conn, _HEAD_SEQS)))
