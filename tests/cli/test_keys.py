"""``dualid keys status`` and ``dualid keys rotate`` with DUALID_MASTER_KEY="new,old", on both
backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualid import DualId, EventUserData, generate_master_key

from .conftest import Run

OLD = "old:" + generate_master_key()
NEW = "new:" + generate_master_key()


@pytest.fixture
def url(db_url: str) -> str:
    """A store with 30 profiles under OLD, on SQLite and on PostgreSQL."""
    url = db_url
    with DualId.open(url, keys=OLD) as sdk:
        for i in range(30):
            agent = sdk.identity.agent_for(f"user-{i}")
            sdk.profiles.put(agent, EventUserData(name=f"Person {i}"))
    return url


def _row(output: str, key_id: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == key_id:
            return cells
    raise AssertionError(f"{key_id} not in:\n{output}")


def test_rotate_then_old_key_is_removable(
    dualid: Run, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALID_MASTER_KEY", f"{NEW},{OLD}")
    env = {"DUALID_MASTER_KEY": f"{NEW},{OLD}"}
    before = dualid("keys", "status", "--db", url, env=env)
    assert before.exit_code == 0, before.output
    assert _row(before.stdout, "new")[1:] == ["primary", "0", "no"]
    assert _row(before.stdout, "old")[1:] == ["old", "31", "no"]  # 30 DEKs + the root secret
    assert "dualid keys rotate" in before.stdout

    rotated = dualid("keys", "rotate", "--db", url, "--batch", "7", env=env)
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 31 keys under new" in rotated.stdout

    after = dualid("keys", "status", "--db", url, env=env)
    assert _row(after.stdout, "new")[1:] == ["primary", "31", "no"]
    assert _row(after.stdout, "old")[1:] == ["old", "0", "yes"]

    again = dualid("keys", "rotate", "--db", url, env=env)
    assert again.exit_code == 0
    assert "re-wrapped 0 keys" in again.stdout

    # The old key can go: everything still reads with the new one alone.
    only_new = {"DUALID_MASTER_KEY": NEW}
    assert dualid("keys", "status", "--db", url, env=only_new).exit_code == 0
    monkeypatch.setenv("DUALID_MASTER_KEY", NEW)
    with DualId.open(url) as sdk:
        agent = sdk.identity.lookup("user-3")
        assert agent is not None
        profile = sdk.profiles.get(agent)
        assert profile is not None
        assert profile.name == "Person 3"


def test_wrong_key_is_a_clear_error(cli: Run, url: str) -> None:
    with DualId.open(url, keys=f"{NEW},{OLD}") as sdk:
        sdk.keys.rotate(batch=5)
    # Everything is under "new" now; configuring only "old" must fail with one line.
    result = cli("keys", "status", "--db", url, env={"DUALID_MASTER_KEY": OLD})
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "[MISSING_KEY]" in result.stderr or "[CONFIGURATION_ERROR]" in result.stderr


def test_no_key_is_a_clear_error_and_creates_no_key_file(dualid: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=OLD):
        pass
    result = dualid("keys", "status", "--db", url)
    assert result.exit_code == 2
    assert "[MISSING_KEY]" in result.stderr
    assert not (tmp_path / "dualid.db.key").exists()


def test_schema_out_of_date_is_reported(cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=OLD):
        pass
    assert cli("db", "downgrade", "0001_core", "--db", url, "--yes").exit_code == 0
    result = cli("keys", "status", "--db", url, env={"DUALID_MASTER_KEY": OLD})
    assert result.exit_code == 2
    assert "dualid db upgrade" in result.stderr
    assert "[SCHEMA_OUT_OF_DATE]" in result.stderr
