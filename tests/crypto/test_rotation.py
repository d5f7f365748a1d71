"""Master-key rotation: re-wrap every DEK under the new primary, resumable, then drop the
old key and read everything back."""

from __future__ import annotations

import pytest

from dualid import DualId, EventUserData, generate_master_key
from dualid.errors import MissingKeyError
from dualid.testing import FakeClock

from ..support import rows, snapshot

USERS = [f"user-{i}" for i in range(5)]


class Stop(Exception):
    pass


def _fill(url: str, keys: str, clock: FakeClock) -> dict[str, str]:
    with DualId.open(url, keys=keys, clock=clock) as sdk:
        agents = {u: sdk.identity.agent_for(u) for u in USERS}
        for user, agent in agents.items():
            sdk.profiles.put(agent, EventUserData(name=f"Name of {user}", email=f"{user}@ex.com"))
    return agents


def _check_all(sdk: DualId, agents: dict[str, str]) -> None:
    for user, agent in agents.items():
        profile = sdk.profiles.get(agent)
        assert profile is not None
        assert profile.name == f"Name of {user}"
        assert sdk.identity.user_for(agent, actor="test", reason="rotation") == user
        # The blind index key is derived from the root secret, not the master key.
        assert sdk.identity.lookup(user) == agent


def test_rotate_then_drop_the_old_key(db_url: str, clock: FakeClock) -> None:
    a, b = f"a:{generate_master_key()}", f"b:{generate_master_key()}"
    agents = _fill(db_url, a, clock)

    with DualId.open(db_url, keys=f"{b},{a}", clock=clock) as sdk:
        before = sdk.keys.status()
        assert before.primary_id == "b"
        assert before.in_use == {"a": len(USERS) + 1}  # DEKs + the root secret
        ciphertexts = snapshot(sdk)["sealed_blobs"]
        report = sdk.keys.rotate()
        assert report.rewrapped == len(USERS) + 1
        assert report.remaining == 0
        after = sdk.keys.status()
        assert after.in_use == {"b": len(USERS) + 1}
        assert after.removable == ("a",)
        # Rotation re-wraps keys only: every field ciphertext is untouched.
        assert snapshot(sdk)["sealed_blobs"] == ciphertexts
        assert sdk.keys.rotate().rewrapped == 0  # nothing left to do
        assert sdk.audit.verify().ok
        actions = [e.action for e in sdk.audit.entries()]
        assert "keys.rewrapped" in actions

    with DualId.open(db_url, keys=b, clock=clock) as sdk:
        _check_all(sdk, agents)


def test_without_rotation_the_old_key_is_still_needed(db_url: str, clock: FakeClock) -> None:
    a, b = f"a:{generate_master_key()}", f"b:{generate_master_key()}"
    _fill(db_url, a, clock)
    with pytest.raises(MissingKeyError):
        DualId.open(db_url, keys=b, clock=clock)


def test_new_writes_after_adding_a_key_use_the_new_primary(db_url: str, clock: FakeClock) -> None:
    a, b = f"a:{generate_master_key()}", f"b:{generate_master_key()}"
    _fill(db_url, a, clock)
    with DualId.open(db_url, keys=f"{b},{a}", clock=clock) as sdk:
        sdk.identity.agent_for("newcomer")
        assert sdk.keys.status().in_use == {"a": len(USERS) + 1, "b": 1}


def test_rotation_is_resumable(db_url: str, clock: FakeClock) -> None:
    a, b = f"a:{generate_master_key()}", f"b:{generate_master_key()}"
    agents = _fill(db_url, a, clock)
    calls: list[tuple[int, int]] = []

    def interrupt(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 2:
            raise Stop

    with DualId.open(db_url, keys=f"{b},{a}", clock=clock) as sdk:
        with pytest.raises(Stop):
            sdk.keys.rotate(batch=1, progress=interrupt)
        partial = sdk.keys.status().in_use
        # The batches before the interruption are committed, the rest still waits.
        assert partial.get("b", 0) >= 2
        assert partial.get("a", 0) >= 1
        assert sum(partial.values()) == len(USERS) + 1
        assert calls[0][1] == len(USERS) + 1  # total announced up front

        report = sdk.keys.rotate(batch=1)
        assert report.remaining == 0
        assert report.rewrapped == partial["a"]
        assert sdk.keys.status().in_use == {"b": len(USERS) + 1}
        assert sdk.audit.verify().ok

    with DualId.open(db_url, keys=b, clock=clock) as sdk:
        _check_all(sdk, agents)


def test_rotation_keeps_wrapped_keys_bound_to_their_agent(db_url: str, clock: FakeClock) -> None:
    a, b = f"a:{generate_master_key()}", f"b:{generate_master_key()}"
    _fill(db_url, a, clock)
    with DualId.open(db_url, keys=f"{b},{a}", clock=clock) as sdk:
        sdk.keys.rotate()
        wrapped = rows(sdk, "SELECT master_key_id FROM dualid_agent_key")
        assert {r[0] for r in wrapped} == {"b"}
