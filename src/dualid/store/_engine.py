"""Engines and transactions for SQLite (embedded default) and PostgreSQL (psycopg 3).

Foreign database errors are converted here, at the boundary, into
:class:`~dualid.errors.StoreError` subclasses with messages that hold no data values. Every
error that means "the database is unreachable, overloaded or asked us to retry" is a
:class:`~dualid.errors.StoreUnavailable` (see :func:`_unavailable`); the ones after which
the whole transaction may be replayed carry ``replayable=True``.

PostgreSQL connections get a connect timeout (5 s), a statement timeout (30 s) and a lock
timeout (30 s) by default, unless the URL (or ``PGCONNECT_TIMEOUT``/``PGOPTIONS``) sets them.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    NoSuchModuleError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool

from dualid.errors import ConfigurationError, DualIdError, StoreError, StoreUnavailable
from dualid.store._sql import Conn, Hook

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LOCK_TIMEOUT",
    "DEFAULT_STATEMENT_TIMEOUT",
    "DEFAULT_URL",
    "Store",
    "normalise_url",
]

DEFAULT_URL = "sqlite:///./dualid.db"
# PostgreSQL defaults, in seconds (Store and DualId.open take each one; None = the server's).
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_STATEMENT_TIMEOUT = 30.0
DEFAULT_LOCK_TIMEOUT = 30.0

# SQLSTATEs that mean "unreachable, overloaded or retry" (PostgreSQL appendix A): class 08
# connection exceptions, class 53 insufficient resources (disk full, out of memory, too
# many connections), serialization failure and deadlock (the server rolled the transaction
# back: replayable), lock_not_available (lock_timeout), query_canceled (statement_timeout),
# admin/crash shutdown, cannot_connect_now (starting up), the idle session timeouts.
_UNAVAILABLE_CLASSES = ("08", "53")
_REPLAYABLE_STATES = frozenset({"40001", "40P01"})
_UNAVAILABLE_STATES = _REPLAYABLE_STATES | {
    "55P03",
    "57014",
    "57P01",
    "57P02",
    "57P03",
    "57P05",
    "25P03",
}
# SQLite result codes (primary, without the extended suffix) that mean the same: locked or
# busy past the busy timeout, the file cannot be opened, read, written or grown.
_SQLITE_UNAVAILABLE = frozenset(
    {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL"}
    | {"SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOMEM"}
)
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked", "database is busy")
# "-c name=value" or "--name=value" in a libpq options string.
_OPTION_NAME = re.compile(r"(?:-c\s*|--)([A-Za-z0-9_.-]+)\s*=")


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's exception behind ``exc`` (SQLAlchemy wraps it in ``.orig``)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return orig if isinstance(orig, BaseException) else exc


def _describe(exc: BaseException) -> str:
    # The class name and SQLSTATE tell an operator what failed without echoing parameters
    # (which may hold ciphertexts or ids).
    orig = _driver_error(exc)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    return f"{type(orig).__name__}{f' ({state})' if state else ''}"


def _unavailable(exc: BaseException, dbapi: Any) -> tuple[bool, bool]:
    """``(unavailable, replayable)`` for a foreign database error.

    Decided by the SQLSTATE when the server sent one, by SQLite's result code, and otherwise
    (client-side failures: refused or lost connections, psycopg's ``ConnectionTimeout``,
    a closed connection) by the DBAPI class: ``OperationalError`` or ``InterfaceError`` and
    their subclasses. Never by a class name.
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True, False  # SQLAlchemy saw the connection die
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True, False  # no pooled connection free in time; a connection lost
    orig = _driver_error(exc)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str) and state:
        if state in _REPLAYABLE_STATES:
            return True, True
        return state in _UNAVAILABLE_STATES or state.startswith(_UNAVAILABLE_CLASSES), False
    errorname = getattr(orig, "sqlite_errorname", None)
    if isinstance(errorname, str) and errorname:
        primary = "_".join(errorname.split("_", 2)[:2])  # SQLITE_BUSY_SNAPSHOT -> SQLITE_BUSY
        return primary in _SQLITE_UNAVAILABLE, False
    if dbapi is not None and getattr(dbapi, "sqlite_version", None) is not None:
        # sqlite3 without a result code (built by hand): only "locked"/"busy" is transient.
        text = str(orig).lower()
        return any(part in text for part in _SQLITE_BUSY_TEXT), False
    transient = tuple(
        cls
        for cls in (
            getattr(dbapi, "OperationalError", None),
            getattr(dbapi, "InterfaceError", None),
        )
        if isinstance(cls, type)
    )
    return bool(transient) and isinstance(orig, transient), False


def _seconds(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds or None")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be positive and finite (or None)")
    return float(value)


def _option_names(options: str) -> set[str]:
    return {name.replace("-", "_").lower() for name in _OPTION_NAME.findall(options)}


def _pg_connect_args(
    url: URL,
    connect_args: dict[str, Any],
    *,
    connect_timeout: float | None,
    statement_timeout: float | None,
    lock_timeout: float | None,
) -> dict[str, Any]:
    """psycopg's connect arguments with dualid's timeouts added, except where the caller's
    ``connect_args``, the URL's query string or libpq's environment already set them."""
    args = dict(connect_args)
    query = url.query
    if (
        connect_timeout is not None
        and "connect_timeout" not in args
        and "connect_timeout" not in query
        and not os.environ.get("PGCONNECT_TIMEOUT")
    ):
        args["connect_timeout"] = max(1, math.ceil(connect_timeout))  # libpq: whole seconds
    given = args.get("options", query.get("options", os.environ.get("PGOPTIONS", "")))
    base = " ".join(given) if isinstance(given, tuple | list) else str(given or "")
    present = _option_names(base)
    settings = {"statement_timeout": statement_timeout, "lock_timeout": lock_timeout}
    extra = [
        f"-c {name}={max(1, round(seconds * 1000))}"
        for name, seconds in settings.items()
        if seconds is not None and name not in present
    ]
    if extra:
        args["options"] = " ".join([base.strip(), *extra]).strip()
    return args


class Store:
    """A database behind dualid: an engine, one pool of driver connections and the
    transactions every store module runs in.

    ``write()`` opens a write transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue
    instead of failing on lock upgrade); ``read()`` a read one; ``autocommit()`` a
    connection for one read-only statement. Each yields a :class:`~dualid.store._sql.Conn`,
    the one connection type of the store modules' statements, commits on success and rolls
    back on any exception, so an operation either happens whole or not at all.
    ``schema()`` is SQLAlchemy's Connection, for Alembic and inspection.

    The pool: on a SQLite file, a LIFO of bare ``sqlite3`` connections
    (:class:`_BareConnections`, opened through the engine so they get its pragmas); in
    memory and on PostgreSQL, SQLAlchemy's pool (pre-ping, reset on return). ``hooks``:
    callables given the text of every statement before it runs (fault injection in tests).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        **engine_kwargs: Any,
    ) -> None:
        """``connect_timeout``, ``statement_timeout``, ``lock_timeout``: seconds, for
        PostgreSQL only (SQLite has its own 30 s busy timeout); ``None`` leaves the server's
        (or libpq's) default. A value the URL's query string (``?connect_timeout=10``,
        ``?options=-c statement_timeout=5000``), ``PGCONNECT_TIMEOUT``/``PGOPTIONS`` or
        ``connect_args`` already sets wins. The connect timeout is rounded up to whole
        seconds and bounds the whole connection attempt (psycopg enforces at least 2 s);
        the others go to the server as ``-c statement_timeout=<ms> -c lock_timeout=<ms>``.
        ``engine_kwargs`` go to :func:`sqlalchemy.create_engine`.
        """
        timeouts = {
            "connect_timeout": _seconds("connect_timeout", connect_timeout),
            "statement_timeout": _seconds("statement_timeout", statement_timeout),
            "lock_timeout": _seconds("lock_timeout", lock_timeout),
        }
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError:
            raise ConfigurationError("the database URL is not valid") from None
        self.dialect = parsed.get_backend_name()
        self.memory = self.dialect == "sqlite" and parsed.database in (None, "", ":memory:")
        self.sqlite_path: Path | None = None
        if self.dialect == "sqlite" and not self.memory and parsed.database:
            self.sqlite_path = Path(parsed.database).expanduser().resolve()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigurationError("dualid supports SQLite and PostgreSQL URLs only")
        kwargs: dict[str, Any] = dict(engine_kwargs)
        if self.memory:
            kwargs.setdefault("poolclass", StaticPool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        elif self.dialect == "sqlite":
            kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
            # Every path ends its own transactions (write() and read() commit or roll back,
            # SQLAlchemy's Connection in schema() rolls back on close, autocommit() opens
            # none), so the pool's rollback on return would only repeat that.
            kwargs.setdefault("pool_reset_on_return", None)
        else:
            kwargs.setdefault("pool_pre_ping", True)
            kwargs["connect_args"] = _pg_connect_args(
                parsed, kwargs.get("connect_args") or {}, **timeouts
            )
        # Called with the text of every statement the SDK runs, before it runs (tests inject
        # faults here: an exception aborts the statement and rolls its transaction back).
        self.hooks: list[Hook] = []
        # The audit log's partition count (migration 0006), read by the SDK once the
        # schema is current (:meth:`load_audit_partitions`); 1 until then.
        self.audit_partitions = 1
        # One shared connection in memory: serialise its users across threads.
        self._memory_lock = threading.RLock() if self.memory else None
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            hint = "pip install 'dualid[postgres]'" if self.dialect == "postgresql" else ""
            raise ConfigurationError(f"no database driver for this URL; {hint}".strip()) from exc
        if self.dialect == "sqlite":
            self._configure_sqlite(self.engine)
        sqlite = self.dialect == "sqlite"
        self._begin_write = "BEGIN IMMEDIATE" if sqlite else None
        self._begin_read = "BEGIN" if sqlite else None
        self._dbapi: Any = self.engine.dialect.loaded_dbapi
        self._dbapi_error: type[Exception] = self._dbapi.Error
        # The hot paths on a SQLite file take bare driver connections from a LIFO of their
        # own; in memory (one shared connection) and on PostgreSQL (pre-ping, server
        # restarts) they go through SQLAlchemy's pool.
        self._bare: _BareConnections | None = None
        self._conns: _BareConnections | _PoolConnections
        if self.sqlite_path is not None:
            self._conns = self._bare = _BareConnections(self.engine)
        else:
            self._conns = _PoolConnections(self.engine)

    def _configure_sqlite(self, engine: Engine) -> None:
        memory = self.memory

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit
            # transactions would defer locking and break BEGIN IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("dualid_write", False)
            # Straight to the driver: this runs once per transaction.
            driver: Any = conn.connection.driver_connection
            driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Serialise users of a shared in-memory connection, and convert foreign database
        errors (SQLAlchemy's, and the driver's own from store._sql) into StoreErrors."""
        lock = self._memory_lock
        if lock is not None:
            lock.acquire()
        try:
            yield
        except DualIdError:
            raise
        except (SQLAlchemyError, self._dbapi_error) as exc:
            raise self._convert(exc) from None
        finally:
            if lock is not None:
                lock.release()

    def _convert(self, exc: BaseException) -> StoreError:
        """The StoreError for a foreign database error (SQLAlchemy's or the driver's)."""
        what = _describe(exc)
        unavailable, replayable = _unavailable(exc, self._dbapi)
        if replayable:
            return StoreUnavailable(
                f"the database rolled the transaction back; retry it: {what}", replayable=True
            )
        if unavailable:
            return StoreUnavailable(f"the database is unavailable: {what}")
        if isinstance(exc, DBAPIError | self._dbapi_error):
            return StoreError(f"the database refused the operation: {what}")
        return StoreError(f"database error: {what}")

    @contextmanager
    def _transaction(self, begin: str | None, *, end: bool = True) -> Iterator[Conn]:
        """One transaction on a driver connection from the store's pool: ``begin`` (SQLite's
        ``BEGIN``/``BEGIN IMMEDIATE``; None on PostgreSQL, whose driver opens one), commit on
        success; on any exception a rollback, and the connection goes back to the pool only
        if that worked (never mid-transaction). ``end=False`` (:meth:`autocommit`): no
        commit or rollback, the pool's own reset (or the bare LIFO's check for a
        transaction left open) covers a statement that failed. Foreign database errors
        become StoreErrors (:meth:`_convert`), after the rollback. One generator, not nested
        context managers: this runs once per operation on every hot path."""
        lock = self._memory_lock
        if lock is not None:
            lock.acquire()
        try:
            conns = self._conns
            dbapi = conns.take()
            try:
                if begin is not None:
                    dbapi.execute(begin)
                yield Conn(dbapi, self.dialect, self.hooks, self.audit_partitions)
                if end:
                    dbapi.commit()
            except BaseException:
                if not end:
                    conns.give(dbapi)
                    raise
                try:
                    dbapi.rollback()
                except Exception:
                    conns.discard(dbapi)
                else:
                    conns.give(dbapi)
                raise  # what failed, not the rollback
            conns.give(dbapi)
        except DualIdError:
            raise
        except (SQLAlchemyError, self._dbapi_error) as exc:
            raise self._convert(exc) from None
        finally:
            if lock is not None:
                lock.release()

    def write(self) -> AbstractContextManager[Conn]:
        """A write transaction: commit on success, roll back on any exception (the
        exception raised is the original one, even when the rollback fails too). On SQLite
        it begins with ``BEGIN IMMEDIATE``, so writers queue instead of failing on lock
        upgrade; on PostgreSQL it is READ COMMITTED and serialises through row locks
        (``docs/concurrency.md``)."""
        return self._transaction(self._begin_write)

    def read(self) -> AbstractContextManager[Conn]:
        """A read transaction (SQLite: one snapshot from its first read; PostgreSQL: READ
        COMMITTED unless its first statement makes it a snapshot, see
        :func:`dualid.store._audit.begin_snapshot`)."""
        return self._transaction(self._begin_read)

    def autocommit(self) -> AbstractContextManager[Conn]:
        """A connection for single read-only statements without a transaction of their own
        (warm ``agent_for``, ``profiles.get``: one statement is one snapshot); SQLite runs
        it in autocommit mode, PostgreSQL's implicit transaction is ended on return (the
        pool's reset). The warmest path of all: the same one generator as a transaction."""
        return self._transaction(None, end=False)

    @contextmanager
    def schema(self, *, write: bool = True) -> Iterator[Connection]:
        """A SQLAlchemy :class:`~sqlalchemy.Connection` in a transaction, for schema work
        (Alembic migrations, inspection) and operator tools; the SDK's own statements use
        :meth:`write` and :meth:`read`. Same error conversion, same commit/rollback."""
        with self._guarded(), self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(dualid_write=True)
            with conn.begin():
                yield conn

    def load_audit_partitions(self) -> int:
        """Read the audit log's partition count (its head rows) into
        :attr:`audit_partitions`, which every transaction's connection carries."""
        from ._audit import heads

        with self.read() as conn:
            self.audit_partitions = max((h[0] for h in heads(conn)), default=0) + 1
        return self.audit_partitions

    def dispose(self) -> None:
        if self._bare is not None:
            self._bare.close()
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store(dialect={self.dialect!r}, memory={self.memory})"


class _PoolConnections:
    """:class:`_BareConnections`' interface over SQLAlchemy's pool (in memory, PostgreSQL):
    the connections are the pool's proxies, which pass ``execute``, ``commit`` and
    ``rollback`` to the driver."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self) -> Any:
        return self._engine.raw_connection()

    @staticmethod
    def give(conn: Any) -> None:
        conn.close()  # back to the pool

    @staticmethod
    def discard(conn: Any) -> None:
        conn.invalidate()  # the pool replaces it
        conn.close()


class _BareConnections:
    """Bare ``sqlite3`` connections for :meth:`Store.write`, :meth:`Store.read` and
    :meth:`Store.autocommit` on a SQLite file: a LIFO of at most ``idle_max`` idle
    connections.

    Each connection is opened by the engine, so its ``connect`` event sets the same pragmas
    as every other connection (WAL, ``synchronous=NORMAL``, foreign keys, busy timeout),
    and is then detached from SQLAlchemy's pool: taking one is a list pop and statements go
    straight to the driver, without the pool's checkout and its proxy objects (about 20 µs
    per ``profiles.put`` + ``get``). A connection is returned only outside a transaction;
    beyond ``idle_max`` idle ones, and after :meth:`close`, returned connections are closed.
    """

    __slots__ = ("_closed", "_engine", "_idle", "idle_max")

    def __init__(self, engine: Engine, idle_max: int = 8) -> None:
        self._engine = engine
        self._idle: list[Any] = []
        self._closed = False
        self.idle_max = idle_max

    def take(self) -> Any:
        try:
            return self._idle.pop()  # atomic: threads never share a connection
        except IndexError:
            pass
        fairy = self._engine.raw_connection()
        conn = fairy.driver_connection
        fairy.detach()  # ours from now on; SQLAlchemy's pool opens another when it needs one
        return conn

    def give(self, conn: Any) -> None:
        if conn.in_transaction or self._closed or len(self._idle) >= self.idle_max:
            self.discard(conn)
            return
        self._idle.append(conn)
        if self._closed:  # close() ran meanwhile
            self.close()

    @staticmethod
    def discard(conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    @property
    def idle(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            self.discard(conn)
