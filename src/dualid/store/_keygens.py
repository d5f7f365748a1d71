"""Statements of the derived keys' generations (``dualid_key_generation``, migration
0010): which generation of the blind-index key and of each signing key is in use, the one
a blind-index rotation is replacing, and the public keys of retired signing keys.

The locks (``docs/concurrency.md``): a write that indexes a new agent reads the blind
index's live generations ``FOR SHARE``; a rotation changes them ``FOR UPDATE``. So a
rotation cannot begin between the moment a writer chose the key to index under and its
commit, and a writer that waited for a rotation to commit reads what it changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from . import _sql as db
from ._rows import BLOB, INT, TEXT_OR_NULL, TIME_OR_NULL, Shape, choice
from ._sql import Conn

__all__ = [
    "ACTIVE",
    "RETIRED",
    "RETIRING",
    "Generation",
    "LiveGeneration",
    "generations",
    "insert_generation",
    "live_generations",
    "set_state",
]

ACTIVE = "active"
RETIRING = "retiring"
RETIRED = "retired"
_TABLE = "dualid_key_generation"
_STATE = choice([ACTIVE, RETIRING, RETIRED])
_BLOB_OR_NULL = BLOB.or_null()


class LiveGeneration(NamedTuple):
    """A generation in use (active, or retiring) with its secret as stored: the secret's
    name, master key id and wrapped bytes (all None for generation 1, derived from the
    root secret)."""

    generation: int
    state: str
    secret: str | None
    master_key_id: str | None
    wrapped: bytes | None


class Generation(NamedTuple):
    """Any generation of one purpose, as a verifier needs it."""

    generation: int
    state: str
    public_key: bytes | None
    created_at: datetime | None
    retired_at: datetime | None


_LIVE_ROW = Shape(_TABLE, generation=INT, state=_STATE, secret=TEXT_OR_NULL) + Shape(
    "dualid_secret", master_key_id=TEXT_OR_NULL, wrapped=_BLOB_OR_NULL
)
_LIVE_TEXT = (
    "SELECT g.generation, g.state, g.secret, s.master_key_id, s.wrapped"
    " FROM dualid_key_generation g LEFT JOIN dualid_secret s ON s.name = g.secret"
    " WHERE g.purpose = ? AND g.state <> 'retired' ORDER BY g.generation DESC"
)
_LIVE = db.Sql(_LIVE_TEXT)
_LIVE_SHARE_PG = db.Sql(_LIVE_TEXT + " FOR SHARE OF g")
_LIVE_UPDATE_PG = db.Sql(_LIVE_TEXT + " FOR UPDATE OF g")
_ALL_ROW = Shape(
    _TABLE,
    generation=INT,
    state=_STATE,
    public_key=_BLOB_OR_NULL,
    created_at=TIME_OR_NULL,
    retired_at=TIME_OR_NULL,
)
_ALL = db.Sql(
    "SELECT generation, state, public_key, created_at, retired_at FROM dualid_key_generation"
    " WHERE purpose = ? ORDER BY generation"
)
_INSERT = db.Sql(
    "INSERT INTO dualid_key_generation"
    " (purpose, generation, state, secret, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_SET_STATE = db.Sql(
    "UPDATE dualid_key_generation SET state = ?, retired_at = ?,"
    " public_key = COALESCE(public_key, ?) WHERE purpose = ? AND generation = ?"
)


def live_generations(conn: Conn, purpose: str, *, lock: str | None = None) -> list[LiveGeneration]:
    """The generations of ``purpose`` in use, newest first. ``lock``: ``"share"`` (a
    writer that indexes under the active one) or ``"update"`` (a rotation) on PostgreSQL;
    SQLite's write transactions are exclusive already."""
    sql = _LIVE
    if lock is not None and db.dialect(conn) == "postgresql":
        sql = _LIVE_SHARE_PG if lock == "share" else _LIVE_UPDATE_PG
    return [LiveGeneration(*row) for row in _LIVE_ROW.check(db.query(conn, sql, (purpose,)))]


def generations(conn: Conn, purpose: str) -> list[Generation]:
    """Every generation of ``purpose``, oldest first."""
    return [
        Generation(
            gen,
            state,
            key,
            db.from_us(created) if created is not None else None,
            db.from_us(retired) if retired is not None else None,
        )
        for gen, state, key, created, retired in _ALL_ROW.check(db.query(conn, _ALL, (purpose,)))
    ]


def insert_generation(
    conn: Conn,
    purpose: str,
    generation: int,
    *,
    secret: str,
    public_key: bytes | None,
    at: datetime,
) -> None:
    """A new active generation whose key is the wrapped secret ``secret``."""
    db.execute(conn, _INSERT, (purpose, generation, ACTIVE, secret, public_key, db.to_us(at)))


def set_state(
    conn: Conn,
    purpose: str,
    generation: int,
    state: str,
    *,
    retired_at: datetime | None = None,
    public_key: bytes | None = None,
) -> None:
    """Move a generation to ``state`` (``retiring``, or ``retired`` at ``retired_at``),
    keeping ``public_key`` unless it has one."""
    retired = db.to_us(retired_at) if retired_at is not None else None
    db.execute(conn, _SET_STATE, (state, retired, public_key, purpose, generation))
