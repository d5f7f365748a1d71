"""``dualid audit public-key | checkpoint | verify --checkpoint | prove``: an auditor with
the public key and a witnessed checkpoint finds a rewound log; a proof printed by the CLI
verifies without the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid import DualId, EventUserData, generate_master_key
from dualid.audit import AuditRecord, Checkpoint, InclusionProof, verify_inclusion

from .conftest import Run

KEY = generate_master_key()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DUALID_MASTER_KEY", KEY)
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=KEY) as sdk:
        for i in range(4):
            agent = sdk.identity.agent_for(f"user-{i}")
            sdk.profiles.put(agent, EventUserData(name=f"Person {i}"))
    return url


def test_an_auditor_finds_a_rewound_log_with_the_witnessed_checkpoint(
    cli: Run, url: str, tmp_path: Path
) -> None:
    key = cli("audit", "public-key", "--db", url)
    assert key.exit_code == 0, key.output
    assert key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "log.pub").write_text(key.stdout)
    witness = tmp_path / "witness.jsonl"
    made = cli("audit", "checkpoint", "--db", url, "--witness-file", str(witness))
    assert made.exit_code == 0, made.output
    checkpoint = Checkpoint.parse(made.stdout)
    assert checkpoint.size == 8
    args = ["--checkpoint", str(witness), "--public-key", str(tmp_path / "log.pub")]
    ok = cli("audit", "verify", "--db", url, *args)
    assert ok.exit_code == 0, ok.output
    assert "checkpoint of 8 entries" in ok.stdout
    # rewind: drop the two newest entries, point the head at the sixth, drop the kept
    # checkpoints; no key is needed for any of it
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        sixth = conn.execute(
            sa.text("SELECT seq, entry_hash FROM dualid_audit WHERE seq = 6")
        ).one()
        conn.execute(sa.text("DELETE FROM dualid_audit WHERE seq > 6"))
        conn.execute(
            sa.text("UPDATE dualid_audit_head SET seq = 6, pseq = 6, entry_hash = :h"),
            {"h": sixth.entry_hash},
        )
        conn.execute(sa.text("DELETE FROM dualid_audit_checkpoint"))
    engine.dispose()
    alone = cli("audit", "verify", "--db", url)
    assert alone.exit_code == 0, alone.output  # the log alone cannot tell
    caught = cli("audit", "verify", "--db", url, *args)
    assert caught.exit_code == 1
    assert "TRUNCATED" in caught.stdout


def test_verify_with_a_checkpoint_needs_the_public_key(cli: Run, url: str, tmp_path: Path) -> None:
    made = cli("audit", "checkpoint", "--db", url)
    (tmp_path / "cp.txt").write_text(made.stdout)
    result = cli("audit", "verify", "--db", url, "--checkpoint", str(tmp_path / "cp.txt"))
    assert result.exit_code != 0
    assert "--public-key" in result.output


def test_a_printed_proof_verifies_without_the_database(cli: Run, url: str, tmp_path: Path) -> None:
    made = cli("audit", "checkpoint", "--db", url)
    (tmp_path / "cp.txt").write_text(made.stdout)
    key = cli("audit", "public-key", "--db", url, "--verifier").stdout.strip()
    proved = cli("audit", "prove", "3", "--db", url, "--checkpoint", str(tmp_path / "cp.txt"))
    assert proved.exit_code == 0, proved.output
    doc = json.loads(proved.stdout)
    entry = AuditRecord(
        seq=doc["entry"]["seq"],
        action="",
        at=Checkpoint.parse(doc["checkpoint"]).time,
        uncertainty_us=0,
        hlc="",
        subject=None,
        host_id=None,
        actor=None,
        details={},
        entry_hash="",
        body=doc["entry"]["body"],
        prev_hash=doc["entry"]["prevHash"],
    )
    proof = InclusionProof.from_dict(doc["proof"])
    assert verify_inclusion(entry, proof, Checkpoint.parse(doc["checkpoint"]), key)


def test_an_unreadable_key_or_checkpoint_file_is_a_usage_error(
    cli: Run, url: str, tmp_path: Path
) -> None:
    made = cli("audit", "checkpoint", "--db", url)
    (tmp_path / "cp.txt").write_text(made.stdout)
    (tmp_path / "log.pub").write_text(cli("audit", "public-key", "--db", url).stdout)
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "malformed.pub").write_text(
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    )
    cases = [
        ("binary", "log.pub", "cannot read the checkpoint"),
        ("cp.txt", "binary", "cannot read the public key"),
        ("cp.txt", "malformed.pub", "not an Ed25519 public key [INVALID_CHECKPOINT]"),
    ]
    for checkpoint, key, message in cases:
        args = ["--checkpoint", str(tmp_path / checkpoint), "--public-key", str(tmp_path / key)]
        result = cli("audit", "verify", "--db", url, *args)
        assert result.exit_code == 2, (checkpoint, key, result.output)
        assert message in result.stderr, (checkpoint, key, result.output)
