"""Which database errors are ``StoreUnavailable`` (HTTP 503, retry later), which of those
are replayable at once (serialization failure, deadlock), and which stay ``StoreError``
(HTTP 500): decided by SQLSTATE, SQLite result code and DBAPI class, never by a class name
(issue 12, failure 5). Each is checked with driver errors built by SQLSTATE and, on real
servers, provoked for real."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dualid.errors import StoreError, StoreUnavailable
from dualid.store import Store
from dualid.store import _sql as db
from dualid.store._retry import run_retrying

SECRET = "agt_secret_value_4242"  # stands for a parameter value; never in a message


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A PostgreSQL Store that never connects (its engine is lazy): for built errors."""
    store = Store("postgresql://nobody@127.0.0.1:1/none")
    yield store
    store.dispose()


def convert(store: Store, exc: BaseException) -> StoreError:
    with pytest.raises(StoreError) as info, store._guarded():
        raise exc
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
    return info.value


def wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    """``orig`` as SQLAlchemy raises it from a statement."""
    exc = DBAPIError.instance(
        f"SELECT '{SECRET}'",
        {"p": SECRET},
        orig,
        psycopg.Error,
        connection_invalidated=invalidated,
    )
    assert isinstance(exc, DBAPIError)
    return exc


def pg_error(sqlstate: str) -> Exception:
    cls = pg_errors.lookup(sqlstate)
    exc: Exception = cls(f"value {SECRET} rejected")
    assert exc.sqlstate == sqlstate  # type: ignore[attr-defined]
    return exc


UNAVAILABLE = {
    # state: replayable
    "08000": False,  # connection_exception
    "08001": False,  # sqlclient_unable_to_establish_sqlconnection
    "08006": False,  # connection_failure
    "08P01": False,  # protocol_violation
    "40001": True,  # serialization_failure
    "40P01": True,  # deadlock_detected
    "53000": False,  # insufficient_resources
    "53100": False,  # disk_full
    "53200": False,  # out_of_memory
    "53300": False,  # too_many_connections
    "55P03": False,  # lock_not_available (lock_timeout)
    "57014": False,  # query_canceled (statement_timeout)
    "57P01": False,  # admin_shutdown
    "57P02": False,  # crash_shutdown
    "57P03": False,  # cannot_connect_now
    "57P05": False,  # idle_session_timeout
    "25P03": False,  # idle_in_transaction_session_timeout
}
NOT_UNAVAILABLE = [
    "23505",  # unique_violation
    "23503",  # foreign_key_violation
    "22001",  # string_data_right_truncation
    "42P01",  # undefined_table
    "42601",  # syntax_error
    "40002",  # transaction_integrity_constraint_violation (class 40, not a conflict)
    "54000",  # program_limit_exceeded (an OperationalError subclass in psycopg)
    "55000",  # object_not_in_prerequisite_state (an OperationalError subclass too)
    "57P04",  # database_dropped: retrying will not bring it back
    "XX000",  # internal_error
]


@pytest.mark.parametrize(("state", "replayable"), sorted(UNAVAILABLE.items()))
def test_retryable_sqlstates_are_store_unavailable(
    pg_store: Store, state: str, replayable: bool
) -> None:
    for exc in (pg_error(state), wrapped(pg_error(state))):
        err = convert(pg_store, exc)
        assert isinstance(err, StoreUnavailable), (state, err)
        assert err.replayable is replayable
        assert err.retryable
        assert state in err.message  # what an operator needs, and nothing else


@pytest.mark.parametrize("state", NOT_UNAVAILABLE)
def test_other_sqlstates_stay_store_errors(pg_store: Store, state: str) -> None:
    for exc in (pg_error(state), wrapped(pg_error(state))):
        err = convert(pg_store, exc)
        assert type(err) is StoreError, (state, err)
        assert state in err.message


@pytest.mark.parametrize(
    "orig",
    [
        pg_errors.ConnectionTimeout("connection timeout expired"),
        psycopg.OperationalError(f"connection to server at {SECRET} failed"),
        psycopg.InterfaceError("the connection is closed"),
        pg_errors.CancellationTimeout("cancellation timeout expired"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_client_side_connection_failures_are_store_unavailable(
    pg_store: Store, orig: Exception
) -> None:
    for exc in (orig, wrapped(orig)):
        err = convert(pg_store, exc)
        assert isinstance(err, StoreUnavailable)
        assert not err.replayable


def test_a_subclass_named_otherwise_is_decided_by_its_class(pg_store: Store) -> None:
    # No "Operational" in the name: the old check by class name missed these.
    class Vanished(psycopg.OperationalError):
        pass

    class Refused(psycopg.ProgrammingError):
        pass

    class OperationalLooking(psycopg.ProgrammingError):
        pass

    assert isinstance(convert(pg_store, wrapped(Vanished("x"))), StoreUnavailable)
    assert type(convert(pg_store, wrapped(Refused("x")))) is StoreError
    assert type(convert(pg_store, OperationalLooking("x"))) is StoreError


def test_an_invalidated_connection_is_store_unavailable(pg_store: Store) -> None:
    err = convert(pg_store, wrapped(psycopg.DatabaseError("x"), invalidated=True))
    assert isinstance(err, StoreUnavailable)


def test_a_pool_timeout_is_store_unavailable(pg_store: Store) -> None:
    assert isinstance(convert(pg_store, PoolTimeout("QueuePool limit reached")), StoreUnavailable)


# -- the two kinds of connection -----------------------------------------------------------
# "conn": the SDK's transactions (Store.write/read/autocommit yield a dualid Conn and run
# statements on the driver); "schema": SQLAlchemy's Connection (Store.schema: migrations,
# inspection, operator tools). Both must convert the same errors.
PATHS = ["conn", "schema"]


def transaction(store: Store, path: str, *, write: bool = True) -> AbstractContextManager[Any]:
    if path == "schema":
        return store.schema(write=write)
    return store.write() if write else store.read()


def execute(conn: db.Conn | sa.Connection, sql: str) -> None:
    if isinstance(conn, sa.Connection):
        conn.exec_driver_sql(sql)
    else:
        db.execute(conn, sql)


def scalar(conn: db.Conn | sa.Connection, sql: str) -> Any:
    if isinstance(conn, sa.Connection):
        return conn.exec_driver_sql(sql).scalar_one()
    return db.query(conn, sql)[0][0]


# -- SQLite --------------------------------------------------------------------------------
@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path}/s.db")
    with store.write() as conn:
        db.execute(conn, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
    yield store
    store.dispose()


@pytest.fixture
def locker(sqlite_store: Store) -> Iterator[sqlite3.Connection]:
    """Another connection holding the SQLite write lock."""
    assert sqlite_store.sqlite_path is not None
    conn = sqlite3.connect(sqlite_store.sqlite_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    yield conn
    conn.rollback()
    conn.close()


@pytest.mark.usefixtures("locker")
def test_sqlite_busy_on_the_bare_path_is_store_unavailable(sqlite_store: Store) -> None:
    with sqlite_store.autocommit() as conn:  # the bare connection, used again next (LIFO)
        db.execute(conn, "PRAGMA busy_timeout=0")  # fail now instead of in 30 s
    with pytest.raises(StoreUnavailable) as info, sqlite_store.write() as conn:
        db.execute(conn, "INSERT INTO t VALUES (1)")  # pragma: no cover - never reached
    assert "SQLITE_BUSY" in info.value.message
    assert not info.value.replayable


@pytest.mark.usefixtures("locker")
def test_sqlite_busy_through_sqlalchemy_is_store_unavailable(sqlite_store: Store) -> None:
    with sqlite_store.schema(write=False) as conn:  # the pool's one connection, used again next
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
    with pytest.raises(StoreUnavailable) as info, sqlite_store.schema() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")  # pragma: no cover
    assert "SQLITE_BUSY" in info.value.message


def test_a_hand_built_sqlite_locked_error_is_store_unavailable(sqlite_store: Store) -> None:
    assert isinstance(
        convert(sqlite_store, sqlite3.OperationalError("database is locked")), StoreUnavailable
    )
    assert type(convert(sqlite_store, sqlite3.OperationalError(f"near {SECRET}"))) is StoreError


@pytest.mark.parametrize("path", PATHS)
def test_sqlite_statement_errors_stay_store_errors(sqlite_store: Store, path: str) -> None:
    # A missing table is an OperationalError in sqlite3, but nothing a retry will fix.
    with pytest.raises(StoreError) as info, transaction(sqlite_store, path, write=False) as conn:
        scalar(conn, "SELECT * FROM no_such_table")
    assert type(info.value) is StoreError

    def insert_twice() -> None:
        with transaction(sqlite_store, path) as conn:
            execute(conn, "INSERT INTO t VALUES (1)")
            execute(conn, "INSERT INTO t VALUES (1)")

    with pytest.raises(StoreError) as info:
        insert_twice()
    assert type(info.value) is StoreError


# -- on a real PostgreSQL server -----------------------------------------------------------
@pytest.fixture
def pg_admin(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 0), (2, 0)")
    yield engine
    engine.dispose()


def value(admin: sa.Engine, row: int = 1) -> int:
    with admin.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT v FROM t WHERE id = {row}").scalar_one())


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    made: list[Store] = []
    yield made
    for store in made:
        store.dispose()


@pytest.mark.postgres
def test_a_statement_timeout_is_store_unavailable(postgres_url: str, stores: list[Store]) -> None:
    store = Store(postgres_url, statement_timeout=0.05)
    stores.append(store)
    with pytest.raises(StoreUnavailable) as info, store.read() as conn:
        db.query(conn, "SELECT pg_sleep(1)")
    assert "57014" in info.value.message
    assert not info.value.replayable
    # The other entry points: autocommit and write (the same Conn) and SQLAlchemy's
    # Connection (schema).
    with pytest.raises(StoreUnavailable, match="57014"), store.autocommit() as conn:
        db.query(conn, "SELECT pg_sleep(1)")
    with pytest.raises(StoreUnavailable, match="57014"), store.write() as conn:
        db.query(conn, "SELECT pg_sleep(1)")
    with pytest.raises(StoreUnavailable, match="57014"), store.schema(write=False) as sa_conn:
        sa_conn.exec_driver_sql("SELECT pg_sleep(1)")
    with store.read() as conn:  # the connections went back to the pool usable
        assert db.query(conn, "SELECT 1") == [(1,)]


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_lock_timeout_is_store_unavailable(
    postgres_url: str, pg_admin: sa.Engine, stores: list[Store], path: str
) -> None:
    store = Store(postgres_url, lock_timeout=0.05)
    stores.append(store)

    def update() -> None:
        with transaction(store, path) as conn:
            execute(conn, "UPDATE t SET v = 1 WHERE id = 1")

    with pg_admin.connect() as holder:
        holder.exec_driver_sql("BEGIN")  # the admin engine is in autocommit mode
        holder.exec_driver_sql("SELECT v FROM t WHERE id = 1 FOR UPDATE")
        with pytest.raises(StoreUnavailable) as info:
            update()
        holder.exec_driver_sql("ROLLBACK")
    assert "55P03" in info.value.message
    assert not info.value.replayable
    assert value(pg_admin) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_terminated_backend_is_store_unavailable(
    postgres_url: str, pg_admin: sa.Engine, stores: list[Store], path: str
) -> None:
    store = Store(postgres_url)
    stores.append(store)

    def terminated_midway() -> None:
        with transaction(store, path) as conn:
            execute(conn, "UPDATE t SET v = 5 WHERE id = 1")
            pid = scalar(conn, "SELECT pg_backend_pid()")
            with pg_admin.connect() as admin:
                # Waits (up to 10 s) until the backend is gone.
                sql = f"SELECT pg_terminate_backend({pid}, 10000)"
                assert admin.exec_driver_sql(sql).scalar()
            scalar(conn, "SELECT 1")

    with pytest.raises(StoreUnavailable) as info:
        terminated_midway()
    assert "57P01" in info.value.message or "OperationalError" in info.value.message
    assert not info.value.replayable  # the commit never happened, but we cannot know that
    assert value(pg_admin) == 0
    # The pool replaces the dead connection: the store works again.
    with transaction(store, path, write=False) as conn:
        assert scalar(conn, "SELECT 1") == 1


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_deadlock_is_replayable_store_unavailable(
    postgres_url: str, pg_admin: sa.Engine, stores: list[Store], path: str
) -> None:
    store = Store(postgres_url)
    stores.append(store)
    both_locked = threading.Barrier(2, timeout=30)
    outcomes: dict[int, BaseException | None] = {}

    def worker(first: int, second: int) -> None:
        try:
            with transaction(store, path) as conn:
                execute(conn, f"UPDATE t SET v = v + 1 WHERE id = {first}")
                both_locked.wait()
                execute(conn, f"UPDATE t SET v = v + 1 WHERE id = {second}")
        except BaseException as exc:
            outcomes[first] = exc
        else:
            outcomes[first] = None

    threads = [threading.Thread(target=worker, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    failed = [exc for exc in outcomes.values() if exc is not None]
    assert len(outcomes) == 2
    assert len(failed) == 1, outcomes
    err = failed[0]
    assert isinstance(err, StoreUnavailable), err
    assert err.replayable
    assert "40P01" in err.message
    assert value(pg_admin, 1) + value(pg_admin, 2) == 2  # the winner's two updates only


def conflicting_update(
    store: Store, admin: sa.Engine, interfere: list[bool], path: str = "conn"
) -> int:
    """Read row 1 in a REPEATABLE READ snapshot, let another connection change it (while
    ``interfere`` says so), then update it: a serialization failure on PostgreSQL."""
    with transaction(store, path) as conn:
        seen = int(scalar(conn, "SELECT v FROM t WHERE id = 1"))
        if interfere.pop(0):
            with admin.connect() as other:
                other.exec_driver_sql("UPDATE t SET v = v + 100 WHERE id = 1")
        execute(conn, f"UPDATE t SET v = {seen + 1} WHERE id = 1")
    return seen + 1


@pytest.mark.postgres
@pytest.mark.parametrize("path", PATHS)
def test_a_serialization_failure_is_replayable_store_unavailable(
    postgres_url: str, pg_admin: sa.Engine, stores: list[Store], path: str
) -> None:
    store = Store(postgres_url, isolation_level="REPEATABLE READ")
    stores.append(store)
    with pytest.raises(StoreUnavailable) as info:
        conflicting_update(store, pg_admin, [True], path)
    assert info.value.replayable
    assert "40001" in info.value.message
    assert value(pg_admin) == 100  # the other connection's update, not ours


@pytest.mark.postgres
def test_run_retrying_replays_a_real_serialization_failure(
    postgres_url: str, pg_admin: sa.Engine, stores: list[Store]
) -> None:
    store = Store(postgres_url, isolation_level="REPEATABLE READ")
    stores.append(store)
    interfere = [True, True, False]  # two conflicts, then a clean run
    sleeps: list[float] = []
    result = run_retrying(
        lambda: conflicting_update(store, pg_admin, interfere), attempts=3, sleep=sleeps.append
    )
    assert interfere == []  # three runs
    assert len(sleeps) == 2
    assert result == 201 == value(pg_admin)  # read 200 (both interferences), wrote 201

    interfere = [True, True, True]  # never clean: the last error is raised
    with pytest.raises(StoreUnavailable) as info:
        run_retrying(
            lambda: conflicting_update(store, pg_admin, interfere),
            attempts=3,
            sleep=lambda _s: None,
        )
    assert info.value.replayable
    assert interfere == []
    assert value(pg_admin) == 501
