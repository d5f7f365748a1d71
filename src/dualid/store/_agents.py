"""Statements of the agent aggregate: the agent row, the lock every write of one person
takes first, and erasure of every row that belongs to the person.

The lock protocol (``docs/concurrency.md``): a write that changes one person's state
locks that person's ``dualid_agent`` row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
a SQLite write transaction is exclusive already) and reads everything it decides on only
after that. :func:`erase_agent` takes the same lock, so an erasure and any write to the
same person serialise: whichever commits second sees the other's result, and a write
that comes after an erasure finds no agent row.
"""

from __future__ import annotations

from sqlalchemy import Connection

from . import _fast as fast

__all__ = ["AGENT_TABLES", "erase_agent", "lock_agent"]

_LOCK = fast.Sql("SELECT agent_id FROM dualid_agent WHERE agent_id = ?")
_LOCK_PG = fast.Sql("SELECT agent_id FROM dualid_agent WHERE agent_id = ? FOR UPDATE")

# Every table holding rows of one agent, children first: erasure deletes from each, and a
# test checks that this list names every table with an agent_id column.
AGENT_TABLES = (
    "dualid_agent_key",
    "dualid_sealed",
    "dualid_grant",
    "dualid_registration",
    "dualid_default",
    "dualid_agent",
)
_DELETE = {name: fast.Sql(f"DELETE FROM {name} WHERE agent_id = ?") for name in AGENT_TABLES}  # noqa: S608 - fixed table names


def lock_agent(conn: Connection | fast.RawConnection, agent_id: str) -> bool:
    """Take the person's lock for the rest of the transaction; False when the agent does
    not exist (unknown, or erased by a transaction that committed first)."""
    sql = _LOCK_PG if fast.dialect(conn) == "postgresql" else _LOCK
    return bool(fast.query(conn, sql, (agent_id,)))


def erase_agent(conn: Connection, agent_id: str) -> int | None:
    """Lock the agent, then delete its data key and every row it owns (crypto-shredding:
    the key goes first). Returns the rows deleted, or None when there is no such agent."""
    if not lock_agent(conn, agent_id):
        return None
    return sum(fast.execute(conn, _DELETE[name], (agent_id,)) for name in AGENT_TABLES)
