"""``dualid keys status`` and ``dualid keys rotate`` with DUALID_MASTER_KEY="new,old", on both
backends."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("started_with", ["key file", "DUALID_MASTER_KEY"])
def test_rotating_a_store_started_with_an_unnamed_key_as_documented(
    dualid: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started_with: str
) -> None:
    # The README's store: DualId.open() with its key file, or an unnamed DUALID_MASTER_KEY.
    monkeypatch.chdir(tmp_path)
    key_file = tmp_path / "dualid.db.key"
    if started_with == "DUALID_MASTER_KEY":
        monkeypatch.setenv("DUALID_MASTER_KEY", generate_master_key())
    else:
        monkeypatch.delenv("DUALID_MASTER_KEY", raising=False)
    with DualId.open() as sdk:
        for i in range(3):
            sdk.profiles.put(sdk.identity.agent_for(f"user-{i}"), EventUserData(name=f"P{i}"))
    if started_with == "DUALID_MASTER_KEY":
        k1 = os.environ["DUALID_MASTER_KEY"]
        monkeypatch.delenv("DUALID_MASTER_KEY")
    else:
        k1 = key_file.read_text().strip()  # K1=$(cat dualid.db.key)
    k2 = generate_master_key()

    # docs/operations.md, "dualid keys": exactly these commands, from the store's folder.
    env = {"DUALID_MASTER_KEY": f"new:{k2},old:{k1}"}
    rotated = dualid("keys", "rotate", env=env, cwd=tmp_path)
    assert rotated.exit_code == 0, rotated.output
    assert "re-wrapped 4 keys under new" in rotated.stdout  # 3 data keys + the root secret
    status = dualid("keys", "status", env=env, cwd=tmp_path)
    assert status.exit_code == 0, status.output
    assert _row(status.stdout, "old")[1:] == ["old", "0", "yes"]
    assert _row(status.stdout, "new")[1:] == ["primary", "4", "no"]
    assert "NOT CONFIGURED" not in status.stdout

    # The new key alone, where the old one was.
    if started_with == "DUALID_MASTER_KEY":
        monkeypatch.setenv("DUALID_MASTER_KEY", f"new:{k2}")
        after = dualid("keys", "status", env={"DUALID_MASTER_KEY": f"new:{k2}"}, cwd=tmp_path)
    else:
        key_file.write_text(f"new:{k2}\n")  # echo "new:$K2" > dualid.db.key
        after = dualid("keys", "status", cwd=tmp_path)
    assert after.exit_code == 0, after.output
    assert _row(after.stdout, "new")[1:] == ["primary", "4", "no"]
    with DualId.open() as sdk:
        agent = sdk.identity.lookup("user-2")
        assert agent is not None
        profile = sdk.profiles.get(agent)
        assert profile is not None
        assert profile.name == "P2"


def test_status_before_rotation_counts_an_unnamed_key_for_its_new_name(
    cli: Run, tmp_path: Path
) -> None:
    k1, k2 = generate_master_key(), generate_master_key()
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=k1) as sdk:
        sdk.identity.agent_for("user-1")
    status = cli("keys", "status", "--db", url, env={"DUALID_MASTER_KEY": f"new:{k2},old:{k1}"})
    assert status.exit_code == 0, status.output
    # Not removable, and not an unknown id: the wrapped keys are under "old", by fingerprint.
    assert _row(status.stdout, "old")[1:] == ["old", "2", "no"]
    assert "NOT CONFIGURED" not in status.stdout
    assert "run `dualid keys rotate`" in status.stdout
