"""Statements of the agent aggregate: the agent row with its blind index, its wrapped data
key, the lock every write of one person takes first, and erasure.

The lock protocol (``docs/concurrency.md``): a write that changes one person's state
locks that person's ``dualid_agent`` row first (``SELECT ... FOR UPDATE`` on PostgreSQL;
a SQLite write transaction is exclusive already) and reads everything it decides on only
after that. :func:`erase_agent` takes the same lock, so an erasure and any write to the
same person serialise: whichever commits second sees the other's result, and a write
that comes after an erasure finds no agent row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from . import _sql as db
from ._audit import claim_partition
from ._rows import BLOB, INT, TEXT, Shape, corrupt
from ._sql import Conn

__all__ = [
    "AGENT_TABLES",
    "AgentKeyRow",
    "agent_index",
    "agent_of_indexes",
    "agents_by_index",
    "agents_under_generation",
    "erase_agent",
    "index_generations",
    "insert_agent",
    "insert_agents",
    "insert_keys",
    "key_of",
    "key_usage",
    "keys_not_under",
    "keys_of",
    "lock_agent",
    "lock_agent_key",
    "page_keys",
    "reindex",
    "rewrap_key",
    "user_index_of",
]

_CHUNK = 500


class AgentKeyRow(NamedTuple):
    """A ``dualid_agent_key`` row: the agent's data key wrapped by a master key."""

    agent_id: str
    master_key_id: str
    dek_version: int
    wrapped: bytes
    created_at: datetime


_BY_INDEX_ROW = Shape("dualid_agent", agent_id=TEXT, user_index=BLOB)
_INDEX_ROW = Shape("dualid_agent", user_index=BLOB)
_KEY_COLUMNS = {"master_key_id": TEXT, "dek_version": INT, "wrapped": BLOB}
_KEY_ROW = Shape("dualid_agent_key", **_KEY_COLUMNS)
_AGENT_KEY_ROW = Shape("dualid_agent_key", agent_id=TEXT, **_KEY_COLUMNS)
_USAGE_ROW = Shape("dualid_agent_key", master_key_id=TEXT, count=INT)
_LOCK = db.Sql("SELECT agent_id FROM dualid_agent WHERE agent_id = ?")
_LOCK_PG = db.Sql("SELECT agent_id FROM dualid_agent WHERE agent_id = ? FOR UPDATE")
_LOCK_WITH_KEY = db.Sql(
    "SELECT k.master_key_id, k.dek_version, k.wrapped FROM dualid_agent a"
    " JOIN dualid_agent_key k ON k.agent_id = a.agent_id WHERE a.agent_id = ?"
)
_LOOKUP = db.Sql("SELECT agent_id FROM dualid_agent WHERE user_index = ?")
_LOOKUP_TWO = db.Sql("SELECT agent_id, user_index FROM dualid_agent WHERE user_index IN (?, ?)")
_BY_INDEX = "SELECT agent_id, user_index FROM dualid_agent WHERE user_index IN (*)"
_INDEX_OF = db.Sql("SELECT user_index FROM dualid_agent WHERE agent_id = ?")
_INSERT = db.Sql(
    "INSERT INTO dualid_agent (agent_id, user_index, index_gen, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_INSERT_ONE = db.Sql(
    "INSERT INTO dualid_agent (agent_id, user_index, index_gen, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING RETURNING agent_id"
)
_UNDER_TEXT = "SELECT agent_id FROM dualid_agent WHERE index_gen = ? ORDER BY agent_id LIMIT ?"
_UNDER = db.Sql(_UNDER_TEXT)
_UNDER_SKIP_PG = db.Sql(_UNDER_TEXT + " FOR UPDATE SKIP LOCKED")
_UNDER_WAIT_PG = db.Sql(_UNDER_TEXT + " FOR UPDATE")
_AGENT_ID_ROW = Shape("dualid_agent", agent_id=TEXT)
_REINDEX = db.Sql(
    "UPDATE dualid_agent SET user_index = ?, index_gen = ? WHERE agent_id = ? AND index_gen = ?"
)
_GEN_COUNTS = db.Sql("SELECT index_gen, count(*) FROM dualid_agent GROUP BY index_gen")
_GEN_COUNT_ROW = Shape("dualid_agent", index_gen=INT, count=INT)
_INSERT_KEY = db.Sql(
    "INSERT INTO dualid_agent_key (agent_id, master_key_id, dek_version, wrapped, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
_KEY = db.Sql("SELECT master_key_id, dek_version, wrapped FROM dualid_agent_key WHERE agent_id = ?")
_KEYS = (
    "SELECT agent_id, master_key_id, dek_version, wrapped FROM dualid_agent_key"
    " WHERE agent_id IN (*)"
)
# The keys of the people registered in one range of an event's registrations.
_PAGE_KEYS = db.Sql(
    "SELECT k.agent_id, k.master_key_id, k.dek_version, k.wrapped FROM dualid_registration r"
    " JOIN dualid_agent_key k ON k.agent_id = r.agent_id"
    " WHERE r.host_id = ? AND r.event_id = ? AND r.registration_id >= ?"
    " AND r.registration_id <= ?"
)
_NOT_UNDER = db.Sql(
    "SELECT agent_id, master_key_id, dek_version, wrapped FROM dualid_agent_key"
    " WHERE master_key_id <> ? ORDER BY agent_id LIMIT ?"
)
_NOT_UNDER_PG = db.Sql(
    "SELECT agent_id, master_key_id, dek_version, wrapped FROM dualid_agent_key"
    " WHERE master_key_id <> ? ORDER BY agent_id LIMIT ? FOR UPDATE SKIP LOCKED"
)
_REWRAP = db.Sql("UPDATE dualid_agent_key SET master_key_id = ?, wrapped = ? WHERE agent_id = ?")
_USAGE = db.Sql("SELECT master_key_id, count(*) FROM dualid_agent_key GROUP BY master_key_id")

# Every table holding rows of one agent, the data key first: erasure deletes from each,
# and a test checks that this list names every table with an agent_id column.
AGENT_TABLES = (
    "dualid_agent_key",
    "dualid_sealed",
    "dualid_shared",
    "dualid_grant",
    "dualid_registration",
    "dualid_default",
    "dualid_agent",
)
_DELETE = {name: db.Sql(f"DELETE FROM {name} WHERE agent_id = ?") for name in AGENT_TABLES}  # noqa: S608 - fixed table names


def lock_agent(conn: Conn, agent_id: str) -> bool:
    """Take the person's lock for the rest of the transaction; False when the agent does
    not exist (unknown, or erased by a transaction that committed first)."""
    sql = _LOCK_PG if db.dialect(conn) == "postgresql" else _LOCK
    if not db.query(conn, sql, (agent_id,)):
        return False
    # The person's entries go to the person's audit partition, whatever this
    # transaction logs first (an event's creation is the host's, say).
    claim_partition(conn, agent_id)
    return True


def lock_agent_key(conn: Conn, agent_id: str) -> tuple[str, int, bytes] | None:
    """:func:`lock_agent`, then :func:`key_of`: the person's lock and then its data key's
    ``(master_key_id, dek_version, wrapped)``; None when the agent or its key does not
    exist. On SQLite, whose write transaction already excludes every other writer, the
    lock is the check that the agent row exists, made in the statement that reads the
    key; on PostgreSQL they are two statements, the row lock first."""
    if db.dialect(conn) == "postgresql":
        return key_of(conn, agent_id) if lock_agent(conn, agent_id) else None
    rows = _KEY_ROW.check(db.query(conn, _LOCK_WITH_KEY, (agent_id,)))
    if not rows:
        return None
    claim_partition(conn, agent_id)  # as lock_agent does
    key_id, version, wrapped = rows[0]
    return key_id, version, wrapped


def erase_agent(conn: Conn, agent_id: str) -> int | None:
    """Lock the agent, then delete its data key and every row it owns (crypto-shredding:
    the key goes first). Returns the rows deleted, or None when there is no such agent."""
    if not lock_agent(conn, agent_id):
        return None
    return sum(db.execute(conn, _DELETE[name], (agent_id,)) for name in AGENT_TABLES)


# -- the userId mapping -----------------------------------------------------------------
def agent_index(conn: Conn, index: bytes) -> str | None:
    """The agent with this blind index, if any."""
    rows = db.query(conn, _LOOKUP, (index,))
    if not rows:
        return None
    agent_id = rows[0][0]
    if type(agent_id) is not str:  # the warmest path: checked inline
        raise corrupt("dualid_agent", "agent_id")
    return agent_id


def agent_of_indexes(conn: Conn, current: bytes, previous: bytes) -> str | None:
    """The agent with either blind index (a userId's under the current key and the one a
    rotation replaces), the current one's first."""
    rows: list[tuple[str, bytes]] = _BY_INDEX_ROW.check(
        db.query(conn, _LOOKUP_TWO, (current, previous))
    )
    if not rows:
        return None
    return next((a for a, index in rows if index == current), rows[0][0])


def agents_by_index(conn: Conn, indexes: Sequence[bytes]) -> dict[bytes, str]:
    """``{blind index: agentId}`` for the indexes that have an agent."""
    out: dict[bytes, str] = {}
    for start in range(0, len(indexes), _CHUNK):
        chunk = list(indexes[start : start + _CHUNK])
        rows = db.query(conn, db.in_list(_BY_INDEX, len(chunk)), chunk)
        for agent_id, index in _BY_INDEX_ROW.check(rows):
            out[index] = agent_id
    return out


def user_index_of(conn: Conn, agent_id: str) -> bytes | None:
    rows = _INDEX_ROW.check(db.query(conn, _INDEX_OF, (agent_id,)))
    return rows[0][0] if rows else None


def insert_agent(conn: Conn, agent_id: str, index: bytes, generation: int, at: datetime) -> bool:
    """Insert an agent unless its blind index has one; True when this call created it.
    ``generation``: the blind-index key's generation ``index`` was computed under."""
    return bool(db.query(conn, _INSERT_ONE, (agent_id, index, generation, db.to_us(at))))


def insert_agents(
    conn: Conn, rows: Sequence[tuple[str, bytes]], generation: int, at: datetime
) -> int:
    """Insert ``(agent_id, index)`` rows, skipping taken indexes; the driver's row count
    (SQLite: the rows inserted; psycopg may report -1)."""
    at_us = db.to_us(at)
    return db.executemany(conn, _INSERT, [(a, i, generation, at_us) for a, i in rows])


# -- re-indexing under a new blind-index key (keys.rotate_index) -------------------------
def agents_under_generation(
    conn: Conn, generation: int, limit: int, *, wait: bool = False
) -> list[str]:
    """Up to ``limit`` agents whose blind index is still under ``generation``, in agentId
    order, locked for re-indexing. PostgreSQL skips the rows another transaction holds (a
    person's write, another rotation) unless ``wait``: then it waits for them."""
    sql = _UNDER
    if db.dialect(conn) == "postgresql":
        sql = _UNDER_WAIT_PG if wait else _UNDER_SKIP_PG
    return [r[0] for r in _AGENT_ID_ROW.check(db.query(conn, sql, (generation, limit)))]


def reindex(conn: Conn, rows: Sequence[tuple[str, bytes]], old: int, new: int) -> None:
    """Give each ``(agent_id, index)`` its index under generation ``new``, if it is still
    under ``old``."""
    db.executemany(conn, _REINDEX, [(index, new, agent_id, old) for agent_id, index in rows])


def index_generations(conn: Conn) -> dict[int, int]:
    """``{generation: agents indexed under it}``."""
    return dict(_GEN_COUNT_ROW.check(db.query(conn, _GEN_COUNTS)))


# -- data keys --------------------------------------------------------------------------
def insert_keys(conn: Conn, rows: Sequence[AgentKeyRow]) -> None:
    db.executemany(
        conn,
        _INSERT_KEY,
        [(*r[:4], db.to_us(r.created_at)) for r in rows],
    )


def key_of(conn: Conn, agent_id: str) -> tuple[str, int, bytes] | None:
    """``(master_key_id, dek_version, wrapped)`` of the agent's key; None when it has none
    (unknown or erased)."""
    rows = _KEY_ROW.check(db.query(conn, _KEY, (agent_id,)))
    if not rows:
        return None
    key_id, version, wrapped = rows[0]
    return key_id, version, wrapped


def keys_of(conn: Conn, agent_ids: Sequence[str]) -> list[tuple[str, str, int, bytes]]:
    """``(agent_id, master_key_id, dek_version, wrapped)`` of the agents that have a key."""
    out: list[tuple[str, str, int, bytes]] = []
    for start in range(0, len(agent_ids), _CHUNK):
        chunk = list(agent_ids[start : start + _CHUNK])
        out += _AGENT_KEY_ROW.check(db.query(conn, db.in_list(_KEYS, len(chunk)), chunk))
    return out


def page_keys(
    conn: Conn, host_id: str, event_id: str, first: str, last: str
) -> list[tuple[str, str, int, bytes]]:
    """:func:`keys_of` the people registered for ``event_id`` from registration ``first``
    to ``last`` (in registration order, both included): one statement per page of the
    host view."""
    return _AGENT_KEY_ROW.check(db.query(conn, _PAGE_KEYS, (host_id, event_id, first, last)))


def keys_not_under(conn: Conn, primary_id: str, limit: int) -> list[tuple[str, str, int, bytes]]:
    """Up to ``limit`` keys wrapped by another master key than ``primary_id``, locked for
    re-wrapping (PostgreSQL skips rows another rotation holds)."""
    sql = _NOT_UNDER_PG if db.dialect(conn) == "postgresql" else _NOT_UNDER
    return _AGENT_KEY_ROW.check(db.query(conn, sql, (primary_id, limit)))


def rewrap_key(conn: Conn, agent_id: str, master_key_id: str, wrapped: bytes) -> None:
    db.execute(conn, _REWRAP, (master_key_id, wrapped, agent_id))


def key_usage(conn: Conn) -> dict[str, int]:
    """``{master_key_id: data keys it wraps}``."""
    return dict(_USAGE_ROW.check(db.query(conn, _USAGE)))
