"""``dualid audit verify``: whole chain, tampered chain."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid import DualId, EventUserData, generate_master_key

from .conftest import Run

KEY = generate_master_key()


def _populate(url: str) -> int:
    with DualId.open(url, keys=KEY) as sdk:
        for i in range(5):
            agent = sdk.identity.agent_for(f"user-{i}")
            sdk.profiles.put(agent, EventUserData(name=f"Person {i}"))
        return sdk.audit.verify().entries


def _tamper(url: str, seq: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE dualid_audit SET body = replace(body, 'profile', 'xrofile') WHERE seq = :s"
            ),
            {"s": seq},
        )
    engine.dispose()


def _check(dualid: Run, url: str) -> None:
    entries = _populate(url)
    ok = dualid("audit", "verify", "--db", url)
    assert ok.exit_code == 0, ok.output
    assert f"audit chain intact: {entries} entries" in ok.stdout
    _tamper(url, 4)
    bad = dualid("audit", "verify", "--db", url, "--batch", "100")
    assert bad.exit_code == 1
    assert "BROKEN at seq 4" in bad.stdout
    assert "hash does not match" in bad.stdout


def test_verify_sqlite(dualid: Run, tmp_path: Path) -> None:
    _check(dualid, f"sqlite:///{tmp_path}/dualid.db")


@pytest.mark.postgres
def test_verify_postgres(dualid: Run, postgres_url: str) -> None:
    _check(dualid, postgres_url)


def test_verify_needs_no_key(cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/dualid.db"
    _populate(url)
    result = cli("audit", "verify", "--db", url)
    assert result.exit_code == 0
    assert not (tmp_path / "dualid.db.key").exists()


def test_verify_empty_database(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "empty.db").write_bytes(b"")
    result = cli("audit", "verify", "--db", f"sqlite:///{tmp_path}/empty.db")
    assert result.exit_code == 2
    assert "dualid db upgrade" in result.stderr
