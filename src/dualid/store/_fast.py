"""Hot-path SQL on the transaction's own DBAPI connection.

SQLAlchemy Core costs tens of microseconds per statement (building, cache keys, result
processing); the handful of statements on every request (agent lookup, data keys, sealed
fields, the audit chain) run here instead, as fixed SQL on the same connection and inside
the same transaction that :class:`~dualid.store.Store` opened. Everything else stays on
SQLAlchemy. Parameters are always bound, never formatted into the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "RawConnection",
    "Sql",
    "dialect",
    "execute",
    "executemany",
    "from_us",
    "in_list",
    "query",
    "to_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """Aware datetime -> microseconds since the epoch (the stored form, see UtcMicros)."""
    return (value - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class Sql:
    """One statement written with ``?`` placeholders; the PostgreSQL (psycopg ``%s``) form
    is derived once. The text must hold no other ``?`` or ``%``."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str) -> None:
        if "%" in text:
            raise ValueError("Sql text must not contain '%'")
        self.sqlite = text
        self.postgresql = text.replace("?", "%s")

    def text(self, conn: Connection | RawConnection) -> str:
        return self.postgresql if dialect(conn) == "postgresql" else self.sqlite


class RawConnection:
    """A pooled DBAPI connection without SQLAlchemy's Connection around it, for single
    read-only statements on the hottest path (see :meth:`Store.raw`)."""

    __slots__ = ("dbapi", "dialect_name")

    def __init__(self, dbapi: Any, dialect_name: str) -> None:
        self.dbapi = dbapi
        self.dialect_name = dialect_name


def dialect(conn: Connection | RawConnection) -> str:
    """``"sqlite"`` or ``"postgresql"``, for either kind of connection."""
    return conn.dialect_name if isinstance(conn, RawConnection) else conn.dialect.name


def in_list(template: str, count: int) -> str:
    """``template`` with its ``IN (*)`` marker expanded to ``count`` (> 0) placeholders:
    only placeholders are ever added to the text."""
    if "(*)" not in template or count < 1:
        raise ValueError("in_list needs a template with '(*)' and a positive count")
    return template.replace("(*)", "(" + ",".join("?" * count) + ")")


def _cursor(conn: Connection | RawConnection) -> Any:
    if isinstance(conn, RawConnection):
        return conn.dbapi.cursor()
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _run(conn: Connection | RawConnection, sql: Sql | str, params: Any, many: bool) -> Any:
    text = sql.text(conn) if isinstance(sql, Sql) else Sql(sql).text(conn)
    cur = _cursor(conn)
    # On a SQLAlchemy Connection, keep its cursor events (tracing, fault injection in
    # tests) working; a RawConnection has none.
    events = None if isinstance(conn, RawConnection) else conn.dispatch
    if events is not None and events.before_cursor_execute:
        for listener in events.before_cursor_execute:
            listener(conn, cur, text, params, None, many)
    try:
        if many:
            cur.executemany(text, params)
        else:
            cur.execute(text, params)
    except BaseException:
        cur.close()
        raise
    if events is not None and events.after_cursor_execute:
        for listener in events.after_cursor_execute:
            listener(conn, cur, text, params, None, many)
    return cur


def query(
    conn: Connection | RawConnection, sql: Sql | str, params: Sequence[Any] = ()
) -> list[Any]:
    """All rows (tuples) of a SELECT."""
    cur = _run(conn, sql, tuple(params), False)
    try:
        return list(cur.fetchall())
    finally:
        cur.close()


def execute(conn: Connection | RawConnection, sql: Sql | str, params: Sequence[Any] = ()) -> int:
    """Run one statement; returns the row count."""
    cur = _run(conn, sql, tuple(params), False)
    try:
        return int(cur.rowcount)
    finally:
        cur.close()


def executemany(
    conn: Connection | RawConnection, sql: Sql | str, rows: Iterable[Sequence[Any]]
) -> int:
    """Run one statement per row; returns the driver's row count (SQLite: the rows
    changed in total; psycopg may report -1)."""
    batch = [tuple(r) for r in rows]
    if not batch:
        return 0
    cur = _run(conn, sql, batch, True)
    try:
        return int(cur.rowcount)
    finally:
        cur.close()
