"""Small dialect differences in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["insert_ignore"]


def insert_ignore(conn: Connection, tbl: Table, values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING``; True when the row was inserted."""
    if conn.dialect.name == "postgresql":
        # RETURNING, not rowcount: with psycopg 3 the rowcount of a skipped insert can
        # be -1, which would make a racing loser think it created the row.
        stmt: Any = (
            pg_insert(tbl)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(*tbl.primary_key.columns)
        )
        return conn.execute(stmt).first() is not None
    else:
        stmt = sqlite_insert(tbl).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(stmt).rowcount)
