"""Engines and transactions for SQLite (embedded default) and PostgreSQL (psycopg 3).

Foreign database errors are converted here, at the boundary, into
:class:`~dualid.errors.StoreError` subclasses with messages that hold no data values.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from dualid.errors import ConfigurationError, DualIdError, StoreError, StoreUnavailable
from dualid.store._fast import RawConnection

__all__ = ["DEFAULT_URL", "Store", "normalise_url"]

DEFAULT_URL = "sqlite:///./dualid.db"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _describe(exc: BaseException) -> str:
    # The class name and SQLSTATE tell an operator what failed without echoing parameters
    # (which may hold ciphertexts or ids).
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    return f"{name}{f' ({state})' if state else ''}"


class Store:
    """A database behind dualid: an engine plus transaction helpers.

    ``write()`` opens a write transaction (``BEGIN IMMEDIATE`` on SQLite, so writers queue
    instead of failing on lock upgrade); ``read()`` a read one. Both commit on success and
    roll back on any exception, so an operation either happens whole or not at all.
    """

    def __init__(self, url: str = DEFAULT_URL, **engine_kwargs: Any) -> None:
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
            # Every path ends its own transactions (SQLAlchemy's Connection rolls back on
            # close; write_raw commits or rolls back; the driver runs in autocommit mode
            # otherwise), so the pool's rollback on return would only repeat that.
            kwargs.setdefault("pool_reset_on_return", None)
        else:
            kwargs.setdefault("pool_pre_ping", True)
        # One shared connection in memory: serialise its users across threads.
        self._memory_lock = threading.RLock() if self.memory else None
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            hint = "pip install 'dualid[postgres]'" if self.dialect == "postgresql" else ""
            raise ConfigurationError(f"no database driver for this URL; {hint}".strip()) from exc
        if self.dialect == "sqlite":
            self._configure_sqlite(self.engine)
        self._dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
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
        errors (SQLAlchemy's, and the driver's own from store._fast) into StoreErrors."""
        lock = self._memory_lock
        if lock is not None:
            lock.acquire()
        try:
            yield
        except DualIdError:
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated or "OperationalError" in _describe(exc):
                raise StoreUnavailable(f"the database is unavailable: {_describe(exc)}") from None
            raise StoreError(f"the database refused the operation: {_describe(exc)}") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {_describe(exc)}") from None
        except self._dbapi_error as exc:
            name = type(exc).__name__
            if "Operational" in name:
                raise StoreUnavailable(f"the database is unavailable: {name}") from None
            raise StoreError(f"the database refused the operation: {name}") from None
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        with self._guarded(), self.engine.connect() as conn:
            if write:
                conn = conn.execution_options(dualid_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def raw(self) -> Iterator[RawConnection]:
        """A DBAPI connection for single read-only statements through
        :mod:`dualid.store._fast` (warm ``agent_for``, ``profiles.get``); no transaction is
        opened (SQLite autocommit; PostgreSQL's implicit one is rolled back on return). On a
        SQLite file it is a bare ``sqlite3`` connection (see :class:`_BareConnections`),
        elsewhere one from SQLAlchemy's pool."""
        conns = self._conns
        with self._guarded():
            conn = conns.take()
            try:
                yield RawConnection(conn, self.dialect)
            finally:
                conns.give(conn)

    @contextmanager
    def write_raw(self) -> Iterator[RawConnection]:
        """A write transaction on a DBAPI connection (as in :meth:`raw`), without
        SQLAlchemy's Connection (about 30 us less per transaction): for the hottest writes,
        which run only :mod:`dualid.store._fast` statements. Commit on success, roll back on
        any exception (the exception raised is the original one, even when the rollback
        fails too), like :meth:`write`; SQLAlchemy's cursor events do not fire."""
        conns = self._conns
        with self._guarded():
            conn = conns.take()
            try:
                if self.dialect == "sqlite":
                    conn.execute("BEGIN IMMEDIATE")
                yield RawConnection(conn, self.dialect)
                conn.commit()
            except BaseException:
                try:
                    conn.rollback()
                except Exception:
                    conns.discard(conn)  # never back into a pool mid-transaction
                else:
                    conns.give(conn)
                raise  # what failed, not the rollback
            conns.give(conn)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: commit on success, roll back on any exception."""
        with self._transaction(True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on PostgreSQL)."""
        with self._transaction(False) as conn:
            yield conn

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
    """Bare ``sqlite3`` connections for :meth:`Store.raw` and :meth:`Store.write_raw` on a
    SQLite file: a LIFO of at most ``idle_max`` idle connections.

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
