"""``dualid demo`` in an empty folder with no configuration."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dualid import DualId

from .conftest import Run


def test_demo_in_an_empty_folder(dualid: Run, tmp_path: Path) -> None:
    outcome = dualid("demo", cwd=tmp_path)
    assert outcome.exit_code == 0, outcome.output
    db, key = tmp_path / "dualid.db", tmp_path / "dualid.db.key"
    assert db.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for part in (
        "agentId: internal",
        "blind index",
        "ciphertext",
        "none of them",  # no plaintext PII in the database files
        "host view",
        "after the revocation",
        "crypto-shredding",
        "hash chain intact",
    ):
        assert part in outcome.stdout, part
    assert outcome.stderr == ""
    # What it left behind is a valid, consistent store.
    with DualId.open(f"sqlite:///{db}") as sdk:
        assert sdk.audit.verify().ok


def test_demo_runs_again_in_the_same_folder(cli: Run, tmp_path: Path) -> None:
    assert cli("demo", cwd=tmp_path).exit_code == 0
    second = cli("demo", cwd=tmp_path)
    assert second.exit_code == 0, second.output
    assert "hash chain intact" in second.stdout


def test_demo_ignores_a_configured_database(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "prod" / "prod.db"
    monkeypatch.setenv("DUALID_DATABASE_URL", f"sqlite:///{elsewhere}")
    assert cli("demo", cwd=tmp_path).exit_code == 0
    assert not elsewhere.exists()
    assert (tmp_path / "dualid.db").exists()
