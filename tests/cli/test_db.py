"""``dualid db upgrade | downgrade | current | history`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid.store import VERSION_TABLE, head, history

from .conftest import Run

REVISIONS = [rev for rev, _, _ in history()]


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(dualid: Run, url: str) -> None:
    up = dualid("db", "upgrade", "--db", url)
    assert up.exit_code == 0, up.output
    assert f"-> {head()}" in up.stdout
    assert dualid("db", "current", "--db", url).stdout.strip() == f"{head()} (head)"
    assert dualid("db", "current", "--db", url, "--check").exit_code == 0
    assert VERSION_TABLE in _tables(url)

    # Step down through every migration and back up: each downgrade works.
    for target in reversed(["base", *REVISIONS[:-1]]):
        down = dualid("db", "downgrade", target, "--db", url, "--yes")
        assert down.exit_code == 0, down.output
        now = dualid("db", "current", "--db", url)
        assert now.stdout.startswith(target)
        assert dualid("db", "current", "--db", url, "--check").exit_code == 1
    assert not {t for t in _tables(url) if t.startswith("dualid_") and t != VERSION_TABLE}

    again = dualid("db", "upgrade", "--db", url)
    assert again.exit_code == 0, again.output
    assert dualid("db", "current", "--db", url).stdout.strip() == f"{head()} (head)"
    hist = dualid("db", "history", "--db", url)
    assert hist.exit_code == 0
    lines = hist.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines] == REVISIONS
    assert lines[-1].endswith("<- current")
    assert dualid("db", "upgrade", "--db", url).stdout.startswith("dualid schema already at")


def test_round_trip_sqlite(dualid: Run, tmp_path: Path) -> None:
    _round_trip(dualid, f"sqlite:///{tmp_path}/dualid.db")


@pytest.mark.postgres
def test_round_trip_postgres(dualid: Run, postgres_url: str) -> None:
    _round_trip(dualid, postgres_url)


def test_db_url_from_the_environment(cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    assert cli("db", "upgrade", env={"DUALID_DATABASE_URL": url}).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_default_database_is_dualid_db_in_the_current_folder(cli: Run, tmp_path: Path) -> None:
    assert cli("db", "upgrade", cwd=tmp_path).exit_code == 0
    assert (tmp_path / "dualid.db").exists()


def test_downgrade_needs_confirmation(cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/dualid.db"
    cli("db", "upgrade", "--db", url)
    refused = cli("db", "downgrade", "base", "--db", url)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert cli("db", "current", "--db", url).stdout.startswith(head())


def test_missing_sqlite_file_is_an_error_not_a_new_database(dualid: Run, tmp_path: Path) -> None:
    result = dualid("db", "current", "--db", f"sqlite:///{tmp_path}/typo.db")
    assert result.exit_code == 2
    assert result.stderr.startswith("dualid: error: no database at")
    assert "[STORE_ERROR]" in result.stderr
    assert not (tmp_path / "typo.db").exists()


def test_unknown_revision(cli: Run, tmp_path: Path) -> None:
    result = cli("db", "upgrade", "nonesuch", "--db", f"sqlite:///{tmp_path}/d.db")
    assert result.exit_code == 2
    assert "[INVALID_INPUT]" in result.stderr


def test_downgrade_below_0011_with_the_key_then_seal_copies(cli: Run, tmp_path: Path) -> None:
    """Shared copies are one blob each at 0011: `db downgrade` re-seals them per field
    with the configured master key (refused without it), `db upgrade` says they wait for
    `db seal-copies`, which re-seals them."""
    from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key

    url = f"sqlite:///{tmp_path}/copies.db"
    key = generate_master_key()
    with DualId.open(url, keys=key) as sdk:
        sdk.hosts.register("bistro", kind=HostKind.BUSINESS, name="Bistro")
        sdk.hosts.require("bistro", EventType.RESERVATION, required={DataField.NAME}, purpose="p")
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        sdk.events.register(agent, "bistro", EventType.RESERVATION, "r1", share={DataField.NAME})
    refused = cli("db", "downgrade", "0007_grant_mac", "--db", url, "--yes")
    assert refused.exit_code != 0
    assert "master key" in refused.output
    env = {"DUALID_MASTER_KEY": key}
    down = cli("db", "downgrade", "0007_grant_mac", "--db", url, "--yes", env=env)
    assert down.exit_code == 0, down.output
    up = cli("db", "upgrade", "--db", url)
    assert up.exit_code == 0, up.output
    assert "dualid db seal-copies" in up.stdout
    sealed = cli("db", "seal-copies", "--db", url, env=env)
    assert sealed.exit_code == 0, sealed.output
    assert "1 shared copies re-sealed" in sealed.stdout
    assert "no shared copy left" in cli("db", "seal-copies", "--db", url, env=env).stdout
    with DualId.open(url, keys=key) as sdk:
        (guest,) = sdk.events.attendees("bistro", "r1")
        assert guest.data.name == "Ana"
