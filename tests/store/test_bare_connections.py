"""The bare sqlite3 connections behind ``Store.autocommit`` and ``Store.write`` on a SQLite file:
pragmas, rollback, reuse, the idle bound, threads, disposal."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualid.errors import StoreError
from dualid.store import Store
from dualid.store import _sql as db


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path}/bare.db")
    with store.write() as conn:
        db.execute(conn, "CREATE TABLE t (x INTEGER PRIMARY KEY)")
    yield store
    store.dispose()


def _values(store: Store) -> list[int]:
    with store.read() as conn:
        return [row[0] for row in db.query(conn, "SELECT x FROM t ORDER BY x")]


def test_only_sqlite_files_use_them(tmp_path: Path, store: Store) -> None:
    assert store._bare is not None
    memory = Store("sqlite://")
    try:
        assert memory._bare is None  # one shared connection, behind a lock
    finally:
        memory.dispose()


def test_bare_connections_have_the_store_pragmas(store: Store) -> None:
    with store.autocommit() as conn:
        assert isinstance(conn.dbapi, sqlite3.Connection)
        assert db.query(conn, "PRAGMA foreign_keys") == [(1,)]
        assert db.query(conn, "PRAGMA journal_mode") == [("wal",)]
        assert db.query(conn, "PRAGMA synchronous") == [(1,)]  # NORMAL
        assert db.query(conn, "PRAGMA busy_timeout") == [(30000,)]
        assert not conn.dbapi.in_transaction  # autocommit outside write()


def test_write_commits_and_reuses_one_connection(store: Store) -> None:
    seen = set()
    for x in (1, 2, 3):
        with store.write() as conn:
            assert conn.dbapi.in_transaction
            db.execute(conn, "INSERT INTO t VALUES (?)", (x,))
            seen.add(id(conn.dbapi))
    assert _values(store) == [1, 2, 3]  # visible to SQLAlchemy's own connections
    assert len(seen) == 1
    assert store._bare is not None
    assert store._bare.idle == 1


def test_write_rolls_back_everything_and_the_connection_stays_usable(store: Store) -> None:
    with store.write() as conn:
        db.execute(conn, "INSERT INTO t VALUES (?)", (1,))

    def two_rows_then_fail() -> None:
        with store.write() as conn:
            db.execute(conn, "INSERT INTO t VALUES (?)", (2,))
            db.execute(conn, "INSERT INTO t VALUES (?)", (3,))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        two_rows_then_fail()
    assert _values(store) == [1]
    with store.write() as conn:  # the same connection, out of its transaction
        db.execute(conn, "INSERT INTO t VALUES (?)", (4,))
    assert _values(store) == [1, 4]


def test_a_database_error_is_converted_and_rolled_back(store: Store) -> None:

    def duplicate_key() -> None:
        with store.write() as conn:
            db.execute(conn, "INSERT INTO t VALUES (?)", (7,))
            db.execute(conn, "INSERT INTO t VALUES (?)", (7,))

    with pytest.raises(StoreError) as info:
        duplicate_key()
    assert info.value.code == "STORE_ERROR"
    assert "7" not in str(info.value)  # no parameter values in the message
    assert _values(store) == []


def test_a_connection_whose_rollback_fails_is_discarded(store: Store) -> None:
    bare = store._bare
    assert bare is not None
    broken: list[sqlite3.Connection] = []

    def fail_with_a_broken_connection() -> None:
        with store.write() as conn:
            broken.append(conn.dbapi)
            db.execute(conn, "INSERT INTO t VALUES (?)", (1,))
            conn.dbapi.close()  # rollback() will now fail
            raise RuntimeError("original")

    with pytest.raises(RuntimeError, match="original"):  # the failure, not the rollback's
        fail_with_a_broken_connection()
    assert bare.idle == 0
    with store.write() as conn:  # a fresh connection
        assert conn.dbapi is not broken[0]
        db.execute(conn, "INSERT INTO t VALUES (?)", (2,))
    assert _values(store) == [2]


def test_threads_never_share_a_connection_and_idle_ones_are_bounded(store: Store) -> None:
    bare = store._bare
    assert bare is not None
    threads = bare.idle_max + 4
    barrier = threading.Barrier(threads)
    used: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with store.autocommit() as conn:
                used.append(id(conn.dbapi))
                barrier.wait(10)  # all hold a connection at once
                assert db.query(conn, "SELECT count(*) FROM t") == [(0,)]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert not errors
    assert len(set(used)) == threads
    assert bare.idle == bare.idle_max


def test_dispose_closes_idle_and_returned_connections(store: Store) -> None:
    bare = store._bare
    assert bare is not None
    with store.autocommit() as first:
        idle_conn = first.dbapi
    with store.autocommit() as held:
        # idle_conn was handed out again (LIFO); take a second one while it is held.
        assert held.dbapi is idle_conn
        with store.autocommit() as second:
            other = second.dbapi
        store.dispose()
        assert bare.idle == 0
        with pytest.raises(sqlite3.ProgrammingError):
            other.execute("SELECT 1")  # it was idle: closed
    with pytest.raises(sqlite3.ProgrammingError):
        idle_conn.execute("SELECT 1")  # returned after dispose: closed, not kept
    assert bare.idle == 0
