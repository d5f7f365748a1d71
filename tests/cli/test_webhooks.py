"""``dualid webhooks run`` and ``dualid webhooks status`` (the long-running worker is
also killed and restarted in tests/webhooks/test_worker_kill.py)."""

from __future__ import annotations

from pathlib import Path

from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key

from ..webhooks._receiver import serving
from .conftest import Run

KEY = generate_master_key()


def _store_with_a_notice(path: Path, url: str) -> str:
    db = f"sqlite:///{path}"
    with DualId.open(db, keys=KEY, webhooks_allow_private=True) as sdk:
        sdk.hosts.register("bistro-7", kind=HostKind.BUSINESS, name="Bistro Seven")
        sdk.hosts.require(
            "bistro-7", EventType.RESERVATION, required={DataField.NAME}, purpose="booking"
        )
        sdk.hosts.set_webhook("bistro-7", url)
        agent = sdk.identity.agent_for("user-ana")
        sdk.profiles.put(agent, EventUserData(name="Ana Lima"))
        sdk.events.register(agent, "bistro-7", EventType.RESERVATION, "res-1", share={"name"})
    return db


def test_run_once_delivers_and_status_counts(dualid: Run, tmp_path: Path) -> None:
    env = {"DUALID_MASTER_KEY": KEY}
    with serving() as receiver:
        db = _store_with_a_notice(tmp_path / "d.db", receiver.url)
        before = dualid("webhooks", "status", "--db", db, env=env)
        assert before.exit_code == 0, before.output
        assert "pending 1, delivered 0, failed 0" in before.stdout
        # Without --allow-private the loopback receiver is refused (SSRF), and retried.
        refused = dualid("webhooks", "run", "--once", "--db", db, env=env)
        assert refused.exit_code == 0, refused.output
        assert "retrying 1" in refused.stdout
        assert receiver.requests == []
    with serving() as receiver:
        db = _store_with_a_notice(tmp_path / "e.db", receiver.url)
        ran = dualid("webhooks", "run", "--once", "--allow-private", "--db", db, env=env)
        assert ran.exit_code == 0, ran.output
        assert "attempted 1: delivered 1, retrying 0, failed 0" in ran.stdout
        assert len(receiver.requests) == 1
        assert "Ana" not in ran.output
        after = dualid("webhooks", "status", "--db", db, env=env)
        assert "pending 0, delivered 1, failed 0" in after.stdout


def test_run_needs_a_store(dualid: Run, tmp_path: Path) -> None:
    missing = dualid("webhooks", "run", "--once", "--db", f"sqlite:///{tmp_path}/none.db")
    assert missing.exit_code == 2
    assert "no database" in missing.stderr
