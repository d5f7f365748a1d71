"""PostgreSQL timeouts: a connect timeout that bounds ``DualId.open`` against a server that
never answers, and statement and lock timeouts on every connection, each configurable and
never overriding what the URL already sets (issue 12, failure 5)."""

from __future__ import annotations

import inspect
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from dualid import DualId
from dualid.errors import ConfigurationError, StoreUnavailable
from dualid.store import Store
from dualid.store import _sql as db
from dualid.store._engine import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_STATEMENT_TIMEOUT,
    _pg_connect_args,
)

# Only a guard against a hang: far above every timeout used here, far below "forever".
HANG_GUARD = 90.0


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            self.accepted.append(conn)

    def url(self, query: str = "") -> str:
        return f"postgresql://nobody@127.0.0.1:{self.port}/nothing{query}"

    def close(self) -> None:
        self._sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(5)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


def outcome(fn: Callable[[], object]) -> BaseException | None:
    """Run ``fn`` in a thread; what it raised (None if it returned). Fails if it hangs."""
    box: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            box.append(exc)
        else:
            box.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "the call hung: no connect timeout"
    return box[0]


# -- a server that accepts TCP and never answers -------------------------------------------
def test_open_against_a_silent_server_raises_store_unavailable(
    silent: SilentServer, master_key: str
) -> None:
    # The default connect timeout (5 s): without one, libpq/psycopg waits 130 s.
    exc = outcome(lambda: DualId.open(silent.url(), keys=master_key))
    assert isinstance(exc, StoreUnavailable), exc
    assert exc.code == "STORE_UNAVAILABLE"
    assert not exc.replayable  # nothing ran: the caller may retry later, not replay now
    assert silent.accepted, "the client never reached the server"


def test_open_passes_its_connect_timeout_through(silent: SilentServer, master_key: str) -> None:
    exc = outcome(lambda: DualId.open(silent.url(), keys=master_key, connect_timeout=1))
    assert isinstance(exc, StoreUnavailable), exc


def test_a_connect_timeout_in_the_url_wins(silent: SilentServer) -> None:
    # Far longer than the hang guard if ours were used instead of the URL's 2 s.
    store = Store(silent.url("?connect_timeout=2"), connect_timeout=3600)

    def read() -> None:
        with store.read() as conn:
            db.query(conn, "SELECT 1")

    try:
        assert isinstance(outcome(read), StoreUnavailable)
    finally:
        store.dispose()


def test_a_refused_connection_is_store_unavailable() -> None:
    with closing(socket.create_server(("127.0.0.1", 0))) as sock:
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    store = Store(f"postgresql://nobody@127.0.0.1:{port}/nothing")
    try:
        for entry in (store.read, store.write, store.autocommit):
            with pytest.raises(StoreUnavailable), entry() as conn:
                db.query(conn, "SELECT 1")  # pragma: no cover - never reached
        with pytest.raises(StoreUnavailable), store.schema(write=False) as sa_conn:
            sa_conn.exec_driver_sql("SELECT 1")  # pragma: no cover
    finally:
        store.dispose()


# -- the connect arguments -----------------------------------------------------------------
def args_for(url: str, connect_args: dict[str, Any] | None = None, **timeouts: Any) -> Any:
    given: dict[str, Any] = {
        "connect_timeout": DEFAULT_CONNECT_TIMEOUT,
        "statement_timeout": DEFAULT_STATEMENT_TIMEOUT,
        "lock_timeout": DEFAULT_LOCK_TIMEOUT,
    }
    given.update(timeouts)
    return _pg_connect_args(make_url(url), connect_args or {}, **given)


@pytest.fixture
def no_libpq_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.delenv("PGOPTIONS", raising=False)


PG = "postgresql+psycopg://u@h/db"


@pytest.mark.usefixtures("no_libpq_env")
def test_defaults_are_five_and_thirty_seconds() -> None:
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT, DEFAULT_LOCK_TIMEOUT) == (5, 30, 30)
    assert args_for(PG) == {
        "connect_timeout": 5,
        "options": "-c statement_timeout=30000 -c lock_timeout=30000",
    }


@pytest.mark.usefixtures("no_libpq_env")
def test_timeouts_convert_to_libpq_units() -> None:
    args = args_for(PG, connect_timeout=0.2, statement_timeout=0.05, lock_timeout=1.5)
    assert args["connect_timeout"] == 1  # whole seconds, rounded up, never 0 (= forever)
    assert args["options"] == "-c statement_timeout=50 -c lock_timeout=1500"


@pytest.mark.usefixtures("no_libpq_env")
def test_none_leaves_the_server_default() -> None:
    assert args_for(PG, connect_timeout=None, statement_timeout=None, lock_timeout=None) == {}
    assert args_for(PG, statement_timeout=None) == {
        "connect_timeout": 5,
        "options": "-c lock_timeout=30000",
    }


@pytest.mark.usefixtures("no_libpq_env")
def test_what_the_url_sets_wins() -> None:
    url = PG + "?connect_timeout=12&options=-c%20statement_timeout%3D5000"
    args = args_for(url)
    assert "connect_timeout" not in args  # the URL's 12 reaches psycopg untouched
    # The URL's options are kept, in front; only the missing setting is added.
    assert args["options"] == "-c statement_timeout=5000 -c lock_timeout=30000"
    both = PG + "?options=--lock-timeout%3D1s%20-cstatement_timeout%3D2s"
    assert args_for(both, connect_timeout=None) == {}


@pytest.mark.usefixtures("no_libpq_env")
def test_connect_args_win_too() -> None:
    args = args_for(PG, {"connect_timeout": 9, "options": "-c lock_timeout=100"})
    assert args == {
        "connect_timeout": 9,
        "options": "-c lock_timeout=100 -c statement_timeout=30000",
    }


def test_libpq_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "11")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=7000 -c search_path=x")
    args = args_for(PG)
    assert "connect_timeout" not in args
    # Passing options replaces PGOPTIONS in libpq, so its settings are carried over.
    assert args["options"] == "-c statement_timeout=7000 -c search_path=x -c lock_timeout=30000"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
@pytest.mark.parametrize("name", ["connect_timeout", "statement_timeout", "lock_timeout"])
def test_bad_timeouts_are_configuration_errors(name: str, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Store("postgresql://u@127.0.0.1/db", **{name: bad})


def test_sqlite_ignores_the_postgresql_timeouts(tmp_path: Any) -> None:
    store = Store(f"sqlite:///{tmp_path}/x.db", connect_timeout=1, statement_timeout=None)
    try:
        with store.read() as conn:
            assert db.query(conn, "SELECT 1")[0][0] == 1
        with store.schema(write=False) as sa_conn:
            assert sa_conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        store.dispose()


def test_open_has_the_stores_defaults() -> None:
    params = inspect.signature(DualId.open).parameters
    store = inspect.signature(Store.__init__).parameters
    for name in ("connect_timeout", "statement_timeout", "lock_timeout"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default == store[name].default


# -- on a real server ----------------------------------------------------------------------
def settings(store: Store) -> tuple[str, str]:
    """The session's timeouts, seen by the SDK's transactions (read) and by SQLAlchemy's
    Connection (schema): the same connect arguments reach both."""
    with store.read() as conn:
        statement = db.query(conn, "SHOW statement_timeout")[0][0]
        lock = db.query(conn, "SHOW lock_timeout")[0][0]
    with store.schema(write=False) as sa_conn:
        through_sqlalchemy = (
            sa_conn.exec_driver_sql("SHOW statement_timeout").scalar_one(),
            sa_conn.exec_driver_sql("SHOW lock_timeout").scalar_one(),
        )
    assert through_sqlalchemy == (statement, lock)
    return str(statement), str(lock)


@pytest.mark.postgres
@pytest.mark.usefixtures("no_libpq_env")
def test_postgres_sessions_have_the_timeouts(postgres_url: str) -> None:
    cases: list[tuple[dict[str, Any], str, tuple[str, str]]] = [
        ({}, "", ("30s", "30s")),
        ({"statement_timeout": 2.5, "lock_timeout": 0.25}, "", ("2500ms", "250ms")),
        ({"statement_timeout": None, "lock_timeout": None}, "", ("0", "0")),
        ({"statement_timeout": 1}, "?options=-c%20statement_timeout%3D5000", ("5s", "30s")),
    ]
    for kwargs, query, expected in cases:
        store = Store(postgres_url + query, **kwargs)
        try:
            assert settings(store) == expected, (kwargs, query)
        finally:
            store.dispose()


@pytest.mark.postgres
@pytest.mark.usefixtures("no_libpq_env")
def test_postgres_connections_carry_the_connect_timeout(postgres_url: str) -> None:
    for query, kwargs, expected in (
        ("", {}, "5"),
        ("", {"connect_timeout": 7}, "7"),
        ("?connect_timeout=13", {"connect_timeout": 7}, "13"),
    ):
        store = Store(postgres_url + query, **kwargs)
        try:
            with store.autocommit() as conn:
                params = conn.dbapi.driver_connection.info.get_parameters()
            assert params.get("connect_timeout") == expected
        finally:
            store.dispose()


@pytest.mark.postgres
@pytest.mark.usefixtures("no_libpq_env")
def test_open_passes_statement_and_lock_timeouts_through(
    postgres_url: str, master_key: str
) -> None:
    with DualId.open(postgres_url, keys=master_key, statement_timeout=12, lock_timeout=3) as sdk:
        assert settings(sdk.store) == ("12s", "3s")
