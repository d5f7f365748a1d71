"""``dualid migrate-ids`` and its engine: batches, resume, idempotence, bad input."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid import DualId, InvalidInput, generate_master_key
from dualid.testing import FakeClock
from dualid.tools.migrate_ids import migrate_ids

from ..support import snapshot
from .conftest import Run, make_bookings, sqlite_dump, subprocess_env

KEY = generate_master_key()


class Crash(Exception):
    pass


def crash_at(n: int):  # type: ignore[no-untyped-def]
    def hook(index: int) -> None:
        if index == n:
            raise Crash(f"injected failure in batch {index}")

    return hook


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/dualid.db"


@pytest.fixture
def sdk(store: str) -> Iterator[DualId]:
    with DualId.open(store, keys=KEY, clock=FakeClock()) as opened:
        yield opened


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    make_bookings(path, 2_000, 300)
    return path


def rows_of(url: str, table: str = "bookings") -> list[tuple[object, object]]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [
                (r[0], r[1])
                for r in conn.execute(
                    sa.text(f"SELECT user_id, agent_id FROM {table} ORDER BY 1, 2")
                )
            ]
    finally:
        engine.dispose()


def assert_consistent(sdk: DualId, rows: list[tuple[object, object]], *, sample: int = 100) -> None:
    """Every row's agentId is the mapping's agentId for its userId."""
    users = {str(u) for u, _ in rows if u is not None}
    mapping = sdk.identity.lookup_many(users)
    assert len(mapping) == len(users)
    for user, agent in rows:
        assert agent == mapping[str(user)]
    for user, agent in random.Random(7).sample(rows, min(sample, len(rows))):
        assert agent == sdk.identity.lookup(str(user)) == sdk.identity.agent_for(str(user))


# --------------------------------------------------------------------------- engine


def test_fills_the_column_and_is_idempotent(sdk: DualId, app_db: Path) -> None:
    target = f"sqlite:///{app_db}"
    report = migrate_ids(
        sdk, target, table="bookings", user_column="user_id", agent_column="agent_id", batch=300
    )
    assert report.column_added
    assert report.rows_updated == 2_000
    assert report.batches == 7
    assert report.after.rows == 2_000
    assert report.after.distinct_users == 300
    assert report.after.missing == 0
    assert report.complete
    assert_consistent(sdk, rows_of(target))

    dump, state = sqlite_dump(app_db), snapshot(sdk)
    again = migrate_ids(
        sdk, target, table="bookings", user_column="user_id", agent_column="agent_id", verify=True
    )
    assert (again.rows_updated, again.batches, again.column_added) == (0, 0, False)
    assert again.mismatched == 0
    assert sqlite_dump(app_db) == dump
    assert snapshot(sdk) == state


def test_interrupted_run_commits_whole_batches_and_resumes(sdk: DualId, app_db: Path) -> None:
    target = f"sqlite:///{app_db}"
    with pytest.raises(Crash):
        migrate_ids(
            sdk,
            target,
            table="bookings",
            user_column="user_id",
            agent_column="agent_id",
            batch=150,
            before_commit=crash_at(4),
        )
    done = [r for r in rows_of(target) if r[1] is not None]
    assert len(done) == 4 * 150  # batches 0-3 committed, batch 4 rolled back whole
    assert_consistent(sdk, done)

    resumed = migrate_ids(
        sdk, target, table="bookings", user_column="user_id", agent_column="agent_id", batch=150
    )
    assert not resumed.column_added
    assert resumed.before.missing == 2_000 - 600
    assert resumed.rows_updated == 2_000 - 600
    assert resumed.complete
    assert_consistent(sdk, rows_of(target))


def test_dry_run_changes_nothing(sdk: DualId, app_db: Path) -> None:
    dump, state = sqlite_dump(app_db), snapshot(sdk)
    report = migrate_ids(
        None,
        f"sqlite:///{app_db}",
        table="bookings",
        user_column="user_id",
        agent_column="agent_id",
        batch=500,
        dry_run=True,
    )
    assert report.dry_run
    assert report.column_added  # would be added
    assert (report.before.missing, report.batches, report.rows_updated) == (2_000, 4, 0)
    assert sqlite_dump(app_db) == dump
    assert snapshot(sdk) == state


def test_rows_without_a_usable_user_id(sdk: DualId, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_bookings(path, 10, 5, extra=[(None,), ("",), ("x" * 300,)])
    report = migrate_ids(
        sdk, f"sqlite:///{path}", table="bookings", user_column="user_id", agent_column="agent_id"
    )
    assert report.rows_updated == 10
    assert report.skipped_invalid == 2
    assert report.after.without_user == 1
    assert report.after.missing == 2
    assert not report.complete


def test_integer_user_ids_map_through_str(sdk: DualId, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE visits (visit_id INTEGER PRIMARY KEY, uid INTEGER)")
    con.executemany("INSERT INTO visits (uid) VALUES (?)", [(i % 7,) for i in range(50)])
    con.commit()
    con.close()
    report = migrate_ids(
        sdk, f"sqlite:///{path}", table="visits", user_column="uid", agent_column="agent"
    )
    assert report.complete
    con = sqlite3.connect(path)
    pairs = con.execute("SELECT uid, agent FROM visits").fetchall()
    con.close()
    for uid, agent in pairs:
        assert agent == sdk.identity.lookup(str(uid))


def test_table_without_primary_key_uses_rowid_and_composite_keys_work(
    sdk: DualId, tmp_path: Path
) -> None:
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE logs (user_id TEXT, line TEXT)")
    con.execute(
        "CREATE TABLE seats (hall TEXT, seat INTEGER, user_id TEXT, PRIMARY KEY (hall, seat))"
    )
    con.executemany("INSERT INTO logs VALUES (?, 'l')", [(f"u{i % 9}",) for i in range(120)])
    con.executemany(
        "INSERT INTO seats VALUES (?, ?, ?)",
        [(h, s, f"u{(s * 3) % 11}") for h in ("a", "b", "c") for s in range(40)],
    )
    con.commit()
    con.close()
    url = f"sqlite:///{path}"
    for table in ("logs", "seats"):
        report = migrate_ids(
            sdk, url, table=table, user_column="user_id", agent_column="agent_id", batch=7
        )
        assert report.complete, table
        assert report.rows_updated == 120
        assert_consistent(sdk, rows_of(url, table) if table == "logs" else _seat_rows(path))


def _seat_rows(path: Path) -> list[tuple[object, object]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT user_id, agent_id FROM seats").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(
    ("table", "user_column", "agent_column", "message"),
    [
        ("bookings; DROP TABLE bookings", "user_id", "agent_id", "not a plain SQL identifier"),
        ('"bookings"', "user_id", "agent_id", "not a plain SQL identifier"),
        ("bookings", "user_id = user_id", "agent_id", "not a plain SQL identifier"),
        ("bookings", "user_id", "agent id", "not a plain SQL identifier"),
        ("bookingz", "user_id", "agent_id", "no table 'bookingz'"),
        ("bookings", "uid", "agent_id", "has no column 'uid'"),
        ("bookings", "user_id", "user_id", "must differ"),
        ("bookings", "user_id", "note", "not agentIds"),
        ("bookings", "user_id", "id", "not a text column"),
    ],
)
def test_bad_names_change_nothing(
    sdk: DualId, app_db: Path, table: str, user_column: str, agent_column: str, message: str
) -> None:
    dump, state = sqlite_dump(app_db), snapshot(sdk)
    with pytest.raises(InvalidInput, match=message):
        migrate_ids(
            sdk,
            f"sqlite:///{app_db}",
            table=table,
            user_column=user_column,
            agent_column=agent_column,
        )
    assert sqlite_dump(app_db) == dump
    assert snapshot(sdk) == state


def test_existing_agent_column_of_the_wrong_type(sdk: DualId, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, user_id TEXT, agent_id INTEGER)")
    con.close()
    with pytest.raises(InvalidInput, match="not a text column"):
        migrate_ids(
            sdk, f"sqlite:///{path}", table="t", user_column="user_id", agent_column="agent_id"
        )


def test_read_only_target_is_a_clear_error(sdk: DualId, app_db: Path) -> None:
    from dualid.errors import StoreError

    dump = sqlite_dump(app_db)
    read_only = f"sqlite:///file:{app_db}?mode=ro&uri=true"
    with pytest.raises(StoreError, match="cannot add the agent column: attempt to write"):
        migrate_ids(
            sdk, read_only, table="bookings", user_column="user_id", agent_column="agent_id"
        )
    assert sqlite_dump(app_db) == dump


# ------------------------------------------------------------------------------ CLI


def _cmd(store: str, target: str, *extra: str) -> list[str]:
    return [
        "migrate-ids",
        "--db",
        store,
        "--target",
        target,
        "--table",
        "bookings",
        "--user-column",
        "user_id",
        "--agent-column",
        "agent_id",
        *extra,
    ]


def test_cli_migrates_verifies_and_prints_counts_only(
    dualid: Run, store: str, app_db: Path
) -> None:
    target = f"sqlite:///{app_db}"
    result = dualid(
        *_cmd(store, target, "--batch", "250", "--verify"), env={"DUALID_MASTER_KEY": KEY}
    )
    assert result.exit_code == 0, result.output
    assert "rows updated" in result.stdout
    assert "2,000" in result.stdout
    assert "rows missing an agentId" in result.stdout
    rows = rows_of(target)
    # Counts only: no userId and no agentId on the screen.
    for user, agent in rows[:50]:
        assert str(user) not in result.output
        assert str(agent) not in result.output
    with DualId.open(store, keys=KEY) as sdk:
        assert_consistent(sdk, rows)

    again = dualid(*_cmd(store, target), env={"DUALID_MASTER_KEY": KEY})
    assert again.exit_code == 0
    assert "batches committed" in again.stdout


def test_cli_dry_run_writes_nothing_anywhere(dualid: Run, tmp_path: Path, app_db: Path) -> None:
    store = f"sqlite:///{tmp_path}/never.db"
    dump = sqlite_dump(app_db)
    result = dualid(*_cmd(store, f"sqlite:///{app_db}", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout
    assert sqlite_dump(app_db) == dump
    assert not (tmp_path / "never.db").exists()
    assert not (tmp_path / "never.db.key").exists()


def test_cli_bad_column_is_one_line_and_changes_nothing(
    dualid: Run, store: str, app_db: Path
) -> None:
    dump = sqlite_dump(app_db)
    args = _cmd(store, f"sqlite:///{app_db}")
    args[args.index("user_id")] = "nope"
    result = dualid(*args, env={"DUALID_MASTER_KEY": KEY})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "dualid: error: table 'bookings' has no column 'nope' [INVALID_INPUT]"
    )
    assert sqlite_dump(app_db) == dump


def test_cli_exits_1_when_rows_remain_missing(cli: Run, store: str, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_bookings(path, 20, 4, extra=[("",)])
    result = cli(*_cmd(store, f"sqlite:///{path}"), env={"DUALID_MASTER_KEY": KEY})
    assert result.exit_code == 1
    assert "rows remain without" in result.stderr


def test_cli_same_sqlite_file_for_store_and_target(cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    make_bookings(path, 1_500, 200)
    url = f"sqlite:///{path}"
    result = cli(*_cmd(url, url, "--batch", "400"), env={"DUALID_MASTER_KEY": KEY})
    assert result.exit_code == 0, result.output
    with DualId.open(url, keys=KEY) as sdk:
        assert_consistent(sdk, rows_of(url))


# ------------------------------------------------------------------ 100k rows, both


@pytest.mark.slow
def test_100k_rows_sqlite_with_interruption(sdk: DualId, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_bookings(path, 100_000, 25_000)
    target = f"sqlite:///{path}"
    kwargs = {"table": "bookings", "user_column": "user_id", "agent_column": "agent_id"}
    with pytest.raises(Crash):
        migrate_ids(sdk, target, batch=1_000, before_commit=crash_at(40), **kwargs)
    partial = rows_of(target)
    assert sum(agent is not None for _, agent in partial) == 40_000
    report = migrate_ids(sdk, target, batch=1_000, verify=True, **kwargs)
    assert report.rows_updated == 60_000
    assert report.after == type(report.after)(100_000, 25_000, 0, 0)
    assert report.mismatched == 0
    assert_consistent(sdk, rows_of(target), sample=300)


@pytest.mark.postgres
def test_100k_rows_postgres_with_interruption(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA app")
        conn.exec_driver_sql(
            "CREATE TABLE app.bookings (id BIGSERIAL PRIMARY KEY, user_id TEXT, note TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO app.bookings (user_id, note) "
            "SELECT 'user-' || mod(g, 25000), 'n' FROM generate_series(0, 99999) AS g"
        )
    engine.dispose()
    kwargs = {"table": "app.bookings", "user_column": "user_id", "agent_column": "agent_id"}
    with DualId.open(postgres_url, keys=KEY, clock=FakeClock()) as sdk:
        with pytest.raises(Crash):
            migrate_ids(sdk, postgres_url, batch=2_000, before_commit=crash_at(10), **kwargs)
        partial = rows_of(postgres_url, "app.bookings")
        assert sum(agent is not None for _, agent in partial) == 20_000
        report = migrate_ids(sdk, postgres_url, batch=2_000, verify=True, **kwargs)
        assert report.rows_updated == 80_000
        assert (report.after.rows, report.after.distinct_users, report.after.missing) == (
            100_000,
            25_000,
            0,
        )
        assert report.mismatched == 0
        assert_consistent(sdk, rows_of(postgres_url, "app.bookings"), sample=200)
        again = migrate_ids(sdk, postgres_url, batch=2_000, **kwargs)
        assert again.rows_updated == 0


@pytest.mark.postgres
def test_cli_postgres_target(dualid: Run, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE bookings (id SERIAL PRIMARY KEY, user_id TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO bookings (user_id) SELECT 'u' || mod(g, 40) FROM generate_series(1, 700) g"
        )
    engine.dispose()
    result = dualid(
        *_cmd(postgres_url, postgres_url, "--batch", "100", "--verify"),
        env={"DUALID_MASTER_KEY": KEY},
    )
    assert result.exit_code == 0, result.output
    with DualId.open(postgres_url, keys=KEY) as sdk:
        assert_consistent(sdk, rows_of(postgres_url))
    bad = dualid(
        "migrate-ids",
        "--db",
        postgres_url,
        "--target",
        postgres_url,
        "--table",
        "nope",
        "--user-column",
        "user_id",
        "--agent-column",
        "agent_id",
        env={"DUALID_MASTER_KEY": KEY},
    )
    assert bad.exit_code == 2
    assert "no table 'nope'" in bad.stderr


@pytest.mark.slow
def test_killed_subprocess_then_rerun_completes(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_bookings(path, 60_000, 15_000)
    store, target = f"sqlite:///{tmp_path}/dualid.db", f"sqlite:///{path}"
    args = [sys.executable, "-m", "dualid.cli", *_cmd(store, target, "--batch", "500")]
    env = subprocess_env({"DUALID_MASTER_KEY": KEY})
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first progress line: batches are committing
    assert "migrating" in first, first
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode in (130, 0), rest
    if proc.returncode == 130:
        assert "run the same command again to continue" in rest
    rerun = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    with DualId.open(store, keys=KEY) as sdk:
        assert_consistent(sdk, rows_of(target))
