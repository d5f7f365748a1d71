"""Statements of the audit aggregate that readers need (the chain's own statements are
in :mod:`dualid.audit._chain` until they move here).

Host reads take no lock that writers need (``docs/concurrency.md``): they read one
snapshot, and the entry that records the read names where in the log that snapshot
stands (:func:`begin_snapshot`).
"""

from __future__ import annotations

from sqlalchemy import Connection

from . import _fast as fast

__all__ = ["begin_snapshot"]

_REPEATABLE_READ = fast.Sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
_HEAD_SEQ = fast.Sql("SELECT seq FROM dualid_audit_head WHERE id = 1")


def begin_snapshot(conn: Connection) -> int:
    """Make the rest of this read transaction one consistent snapshot and return the
    sequence number of the last audit entry it contains.

    Must be the first statement of the transaction. On PostgreSQL the transaction becomes
    REPEATABLE READ (the snapshot is taken by the head read, its first query); a SQLite
    read transaction (WAL) is a snapshot from its first read. Every change commits
    together with its audit entry and the head row, so the snapshot holds exactly the
    changes logged up to the returned position."""
    if fast.dialect(conn) == "postgresql":
        fast.execute(conn, _REPEATABLE_READ)
    ((seq,),) = fast.query(conn, _HEAD_SEQ)
    return int(seq)
