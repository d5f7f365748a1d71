"""How every statement of the SDK runs: fixed SQL on the transaction's DBAPI connection.

The store modules (one per aggregate) hold every statement the SDK runs, written once with
``?`` placeholders (:class:`Sql`) and run through :func:`query`, :func:`execute` and
:func:`executemany` on a :class:`Conn`, the one connection type of a transaction that
:class:`~dualid.store.Store` opened. SQLAlchemy Core would cost tens of microseconds per
statement (building, cache keys, result processing) on paths that run thousands of them;
SQLAlchemy stays for the engine, the pool, the table definitions and Alembic. Parameters
are always bound, never formatted into the text. The store's statement hooks
(:attr:`Store.hooks`) see every statement before it runs (tests inject faults there).

Every parameter passes one backstop before the driver sees it (:func:`_refuse_unstorable`):
a string holding a NUL character or an unpaired surrogate, or an integer outside the signed
64-bit range, is :class:`~dualid.errors.InvalidInput`. PostgreSQL refuses the first, no
driver encodes the second, SQLite overflows on the third while PostgreSQL compares it as a
numeric: refused alike, the two backends behave the same, whatever the caller forgot to
check. Refused before the statement runs, inside the transaction, which then rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

from dualid._checks import INT64_MAX, INT64_MIN, unstorable
from dualid._micros import from_us, to_us
from dualid.errors import InvalidInput

__all__ = [
    "Conn",
    "Sql",
    "TablePages",
    "dialect",
    "execute",
    "executemany",
    "from_us",
    "in_list",
    "query",
    "to_us",
]


class Sql:
    """One statement written with ``?`` placeholders; the PostgreSQL (psycopg ``%s``) form
    is derived once. The text must hold no other ``?`` or ``%``."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str) -> None:
        if "%" in text:
            raise ValueError("Sql text must not contain '%'")
        self.sqlite = text
        self.postgresql = text.replace("?", "%s")

    @classmethod
    def per_dialect(cls, *, sqlite: str, postgresql: str) -> Sql:
        """One statement that the two dialects write differently (``INSERT OR IGNORE``
        and ``ON CONFLICT DO NOTHING``, a sequence, the rowid), each with ``?``
        placeholders: run it like any other, it picks its text by the connection."""
        stmt = cls(sqlite)
        stmt.postgresql = cls(postgresql).postgresql
        return stmt

    def text(self, conn: Conn) -> str:
        return self.postgresql if conn.dialect_name == "postgresql" else self.sqlite


Hook = Callable[[str], None]


class Conn:
    """The connection of one transaction (or of one autocommit statement): the driver's
    connection, its dialect, and the store's statement hooks."""

    __slots__ = ("audit_part", "audit_partitions", "dbapi", "dialect_name", "hooks")

    def __init__(
        self,
        dbapi: Any,
        dialect_name: str,
        hooks: Sequence[Hook] = (),
        audit_partitions: int = 1,
    ) -> None:
        self.dbapi = dbapi
        self.dialect_name = dialect_name
        self.hooks = hooks
        # The audit log's partition count, and the one partition this transaction appends
        # to once it has appended (a transaction locks one partition head, never two).
        self.audit_partitions = audit_partitions
        self.audit_part: int | None = None


def dialect(conn: Conn) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return conn.dialect_name


def in_list(template: str, count: int) -> str:
    """``template`` with its ``IN (*)`` marker expanded to ``count`` (> 0) placeholders:
    only placeholders are ever added to the text."""
    if "(*)" not in template or count < 1:
        raise ValueError("in_list needs a template with '(*)' and a positive count")
    return template.replace("(*)", "(" + ",".join("?" * count) + ")")


class TablePages:
    """Every row of one table, page by page, in the table's own order: on SQLite by rowid
    (the rows as they lie; the order of a text primary key would cost a lookup per row), on
    PostgreSQL by the text primary key ``key``. Each row is ``columns`` and then its page
    key; pass the last row's page key to get the next page."""

    __slots__ = ("_sql",)

    def __init__(self, table: str, columns: str, key: str) -> None:
        self._sql = Sql.per_dialect(
            sqlite=f"SELECT {columns}, rowid FROM {table}"  # noqa: S608
            " WHERE rowid > ? ORDER BY rowid LIMIT ?",
            postgresql=f"SELECT {columns}, {key} FROM {table}"  # noqa: S608
            f" WHERE {key} > ? ORDER BY {key} LIMIT ?",
        )

    def page(self, conn: Conn, after: Any, limit: int) -> list[Any]:
        """Up to ``limit`` rows after the page key ``after`` (None: from the first row)."""
        if after is None:
            after = "" if conn.dialect_name == "postgresql" else INT64_MIN
        return query(conn, self._sql, (after, limit))


def _refuse_unstorable(params: Iterable[Any]) -> None:
    """Raise :class:`InvalidInput` for a parameter no backend stores the same (see the
    module docstring). The message names no value: parameters hold ids and ciphertexts.
    Exact types first: this sees every parameter of every statement."""
    for value in params:
        cls = type(value)
        if cls is bytes or value is None:
            continue
        if cls is str or isinstance(value, str):
            if "\x00" in value or (not value.isascii() and unstorable(value)):
                raise InvalidInput(
                    "a text value holds a NUL character or an unpaired surrogate, "
                    "which the database cannot store"
                )
        elif (cls is int or isinstance(value, int)) and not INT64_MIN <= value <= INT64_MAX:
            raise InvalidInput("an integer is outside the signed 64-bit range of the database")


def _run(conn: Conn, sql: Sql | str, params: Any, many: bool) -> Any:
    _refuse_unstorable(chain.from_iterable(params) if many else params)
    if not isinstance(sql, Sql):
        sql = Sql(sql)
    text = sql.postgresql if conn.dialect_name == "postgresql" else sql.sqlite
    if conn.hooks:
        for hook in conn.hooks:
            hook(text)
    cur = conn.dbapi.cursor()
    try:
        if many:
            cur.executemany(text, params)
        else:
            cur.execute(text, params)
    except BaseException:
        cur.close()
        raise
    return cur


def query(conn: Conn, sql: Sql | str, params: Sequence[Any] = ()) -> list[Any]:
    """All rows (tuples) of a SELECT."""
    cur = _run(conn, sql, tuple(params), False)
    try:
        return list(cur.fetchall())
    finally:
        cur.close()


def execute(conn: Conn, sql: Sql | str, params: Sequence[Any] = ()) -> int:
    """Run one statement; returns the row count."""
    cur = _run(conn, sql, tuple(params), False)
    try:
        return int(cur.rowcount)
    finally:
        cur.close()


def executemany(conn: Conn, sql: Sql | str, rows: Iterable[Sequence[Any]]) -> int:
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
