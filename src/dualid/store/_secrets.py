"""Statements of the store-wide secrets (``dualid_secret``): random secrets wrapped by a
master key, the root of the derived keys (blind index, pairwise refs, signing)."""

from __future__ import annotations

from datetime import datetime

from . import _sql as db
from ._rows import BLOB, INT, TEXT, Shape
from ._sql import Conn

__all__ = [
    "delete_secret",
    "insert_secret",
    "rewrap_secret",
    "secret",
    "secret_usage",
    "secrets_not_under",
]

_TABLE = "dualid_secret"
_SECRET_ROW = Shape(_TABLE, master_key_id=TEXT, wrapped=BLOB)
_NAMED_ROW = Shape(_TABLE, name=TEXT, master_key_id=TEXT, wrapped=BLOB)
_USAGE_ROW = Shape(_TABLE, master_key_id=TEXT, count=INT)
_GET = db.Sql("SELECT master_key_id, wrapped FROM dualid_secret WHERE name = ?")
_INSERT = db.Sql(
    "INSERT INTO dualid_secret (name, master_key_id, wrapped, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_NOT_UNDER = db.Sql(
    "SELECT name, master_key_id, wrapped FROM dualid_secret WHERE master_key_id <> ? ORDER BY name"
)
_REWRAP = db.Sql("UPDATE dualid_secret SET master_key_id = ?, wrapped = ? WHERE name = ?")
_DELETE = db.Sql("DELETE FROM dualid_secret WHERE name = ?")
_USAGE = db.Sql("SELECT master_key_id, count(*) FROM dualid_secret GROUP BY master_key_id")


def secret(conn: Conn, name: str) -> tuple[str, bytes] | None:
    """``(master_key_id, wrapped)`` of the secret ``name``, if it exists."""
    rows = _SECRET_ROW.check(db.query(conn, _GET, (name,)))
    return (rows[0][0], rows[0][1]) if rows else None


def insert_secret(conn: Conn, name: str, master_key_id: str, wrapped: bytes, at: datetime) -> None:
    """Insert the secret unless one of that name exists (two processes racing agree on
    the first one: read it back with :func:`secret`)."""
    db.execute(conn, _INSERT, (name, master_key_id, wrapped, db.to_us(at)))


def secrets_not_under(conn: Conn, primary_id: str) -> list[tuple[str, str, bytes]]:
    return _NAMED_ROW.check(db.query(conn, _NOT_UNDER, (primary_id,)))


def rewrap_secret(conn: Conn, name: str, master_key_id: str, wrapped: bytes) -> None:
    db.execute(conn, _REWRAP, (master_key_id, wrapped, name))


def secret_usage(conn: Conn) -> dict[str, int]:
    return dict(_USAGE_ROW.check(db.query(conn, _USAGE)))


def delete_secret(conn: Conn, name: str) -> None:
    """Destroy the secret ``name`` (a retired key generation's: what it protected is gone)."""
    db.execute(conn, _DELETE, (name,))
