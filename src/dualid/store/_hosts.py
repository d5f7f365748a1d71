"""Statements of the host aggregate: the host row and its requirements.

Lock protocol (``docs/concurrency.md``): a write to a host's requirements locks the host
row first, so concurrent replacements of one (host, event type) requirement apply one
after the other and the last to commit wins.
"""

from __future__ import annotations

from sqlalchemy import Connection

from . import _fast as fast

__all__ = ["lock_host"]

_LOCK = fast.Sql("SELECT host_id FROM dualid_host WHERE host_id = ?")
_LOCK_PG = fast.Sql("SELECT host_id FROM dualid_host WHERE host_id = ? FOR UPDATE")


def lock_host(conn: Connection | fast.RawConnection, host_id: str) -> bool:
    """Take the host's lock for the rest of the transaction; False when there is no such
    host."""
    sql = _LOCK_PG if fast.dialect(conn) == "postgresql" else _LOCK
    return bool(fast.query(conn, sql, (host_id,)))
