"""``dualid keys rotate-index``, ``dualid keys rotate-signing``, what ``dualid keys status``
says of them, and ``dualid audit public-key --all`` / ``verify --public-key`` with the keys
of both generations; on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualid import DualId, generate_master_key

from .conftest import Outcome, Run

KEY = generate_master_key()
ENV = {"DUALID_MASTER_KEY": KEY}
USERS = [f"user-{i}" for i in range(12)]


class Stop(Exception):
    pass


@pytest.fixture
def url(db_url: str) -> str:
    with DualId.open(db_url, keys=KEY) as sdk:
        sdk.identity.agents_for(USERS)
    return db_url


def _stop(done: int, total: int) -> None:
    raise Stop


def _verify(cli: Run, url: str, checkpoint: Path, keys: Path) -> Outcome:
    return cli(
        "audit", "verify", "--db", url, "--checkpoint", str(checkpoint), "--public-key", str(keys)
    )


def test_rotate_index_resumes_then_does_nothing(cli: Run, url: str) -> None:
    with DualId.open(url, keys=KEY) as sdk, pytest.raises(Stop):
        sdk.keys.rotate_index(batch=5, progress=_stop)  # interrupted after one batch
    running = cli("keys", "status", "--db", url, env=ENV)
    assert running.exit_code == 0, running.output
    assert "rotation from generation 1 running (7 agents left)" in running.stdout
    assert "dualid keys rotate-index" in running.stdout

    resumed = cli("keys", "rotate-index", "--db", url, "--batch", "3", env=ENV)
    assert resumed.exit_code == 0, resumed.output
    assert "re-indexed 7 agents" in resumed.stdout
    assert "generation 2" in resumed.stdout
    assert "generation 1 is retired" in resumed.stdout

    again = cli("keys", "rotate-index", "--db", url, "--to", "2", env=ENV)
    assert again.exit_code == 0, again.output
    assert "re-indexed 0 agents" in again.stdout
    assert "retired" not in again.stdout
    assert "blind-index key: generation 2\n" in cli("keys", "status", "--db", url, env=ENV).stdout
    with DualId.open(url, keys=KEY) as sdk:
        assert len(sdk.identity.lookup_many(USERS)) == len(USERS)


def test_rotate_index_to_a_generation_it_cannot_reach(cli: Run, url: str) -> None:
    result = cli("keys", "rotate-index", "--db", url, "--to", "5", env=ENV)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "[INVALID_INPUT]" in result.stderr
    with DualId.open(url, keys=KEY) as sdk:
        assert sdk.keys.status().index.generation == 1


def test_rotate_signing_and_the_keys_of_both_generations(
    cli: Run, url: str, tmp_path: Path
) -> None:
    with DualId.open(url, keys=KEY) as sdk:
        old_checkpoint = str(sdk.audit.checkpoint(witness=False))
    (tmp_path / "old.txt").write_text(old_checkpoint)
    current_only = cli("audit", "public-key", "--db", url, env=ENV)
    (tmp_path / "old.pub").write_text(current_only.stdout)

    receipts = cli("keys", "rotate-signing", "--db", url, "--only", "receipts", env=ENV)
    assert receipts.exit_code == 0, receipts.output
    assert receipts.stdout.startswith("receipt-signing: generation 2, key id ")
    assert "audit-signing" not in receipts.stdout
    both = cli("keys", "rotate-signing", "--db", url, env=ENV)
    assert both.exit_code == 0, both.output
    assert "receipt-signing: generation 3" in both.stdout
    assert "audit-signing: generation 2" in both.stdout

    status = cli("keys", "status", "--db", url, env=ENV).stdout
    assert status.count("retired 20") == 3  # receipt 1 and 2, audit 1
    assert status.count("current") == 2

    pems = cli("audit", "public-key", "--db", url, "--all", env=ENV)
    assert pems.exit_code == 0, pems.output
    assert pems.stdout.count("BEGIN PUBLIC KEY") == 2
    assert pems.stdout.startswith("# generation 2, key id ")
    assert "# generation 1, key id " in pems.stdout
    assert "retired 20" in pems.stdout
    verifiers = cli("audit", "public-key", "--db", url, "--all", "--verifier", env=ENV)
    lines = verifiers.stdout.splitlines()
    assert len(lines) == 2
    assert len({line.split("+")[1] for line in lines}) == 2  # a key hash per key
    assert lines[0] == cli("audit", "public-key", "--db", url, "--verifier", env=ENV).stdout.strip()

    # Offline verification of the old checkpoint: with the file of every key, or the old one.
    (tmp_path / "all.pub").write_text(pems.stdout)
    (tmp_path / "new.pub").write_text(cli("audit", "public-key", "--db", url, env=ENV).stdout)
    (tmp_path / "all.vkeys").write_text(verifiers.stdout)
    for keys, ok in (("all.pub", True), ("old.pub", True), ("all.vkeys", True), ("new.pub", False)):
        result = _verify(cli, url, tmp_path / "old.txt", tmp_path / keys)
        assert (result.exit_code == 0) is ok, (keys, result.output)
        if not ok:
            assert "[INVALID_CHECKPOINT]" in result.stderr


def test_a_public_key_file_without_a_key(cli: Run, url: str, tmp_path: Path) -> None:
    with DualId.open(url, keys=KEY) as sdk:
        (tmp_path / "cp.txt").write_text(str(sdk.audit.checkpoint(witness=False)))
    (tmp_path / "empty.pub").write_text("# nothing here\n")
    result = _verify(cli, url, tmp_path / "cp.txt", tmp_path / "empty.pub")
    assert result.exit_code == 2
    assert "[INVALID_CHECKPOINT]" in result.stderr


@pytest.mark.parametrize(("command", "what"), [("rotate", "Keys"), ("rotate-index", "Agents")])
def test_the_batch_option_of_both_rotations(cli: Run, url: str, command: str, what: str) -> None:
    for bad in ("0", "50001"):
        refused = cli("keys", command, "--db", url, "--batch", bad, env=ENV)
        assert refused.exit_code == 2, refused.output
        assert "--batch" in refused.output
    shown = cli("keys", command, "--help")
    assert f"{what} re-" in shown.stdout
    assert "per transaction" in shown.stdout
    assert cli("keys", command, "--db", url, "--batch", "50000", env=ENV).exit_code == 0
