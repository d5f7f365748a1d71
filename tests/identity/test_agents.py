"""userId <-> agentId: get-or-create, bulk, lookup, the audited reverse lookup."""

from __future__ import annotations

import threading

import pytest

from dualid import DualId
from dualid.errors import InvalidInput, UnknownAgent
from dualid.identity._agents import MAX_USER_ID_LENGTH

from ..support import rows, snapshot


def test_agent_for_is_idempotent_and_opaque(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-123")
    assert agent.startswith("agt_")
    assert "user" not in agent
    assert "123" not in agent
    assert sdk.identity.agent_for("user-123") == agent
    assert sdk.identity.agent_for("user-124") != agent
    assert len(rows(sdk, "SELECT agent_id FROM dualid_agent")) == 2


def test_agent_for_writes_one_audit_entry_per_new_agent(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.identity.agent_for("user-1")
    entries = sdk.audit.entries()
    assert [(e.action, e.subject) for e in entries] == [("agent.created", agent)]


def test_agent_ids_are_random_not_derived(sdk: DualId, master_key: str) -> None:
    # The same userId in another store (another root secret) gets another agentId.
    other = DualId.open("sqlite://")
    try:
        assert other.identity.agent_for("user-1") != sdk.identity.agent_for("user-1")
    finally:
        other.close()


def test_user_ids_are_case_and_space_sensitive(sdk: DualId) -> None:
    ids = {sdk.identity.agent_for(u) for u in ["Ana", "ana", " ana", "ana "]}
    assert len(ids) == 4


def test_lookup_never_creates(sdk: DualId) -> None:
    assert sdk.identity.lookup("nobody") is None
    assert rows(sdk, "SELECT agent_id FROM dualid_agent") == []
    agent = sdk.identity.agent_for("somebody")
    assert sdk.identity.lookup("somebody") == agent


def test_agents_for_bulk(sdk: DualId) -> None:
    existing = sdk.identity.agent_for("u-0")
    users = [f"u-{i}" for i in range(25)]
    mapping = sdk.identity.agents_for([*users, "u-3"], batch=7)
    assert set(mapping) == set(users)
    assert mapping["u-0"] == existing
    assert len(set(mapping.values())) == 25
    assert all(sdk.identity.agent_for(u) == a for u, a in mapping.items())
    assert len(rows(sdk, "SELECT agent_id FROM dualid_agent")) == 25
    assert sdk.audit.verify().entries == 25


def test_user_for_is_audited(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-42")
    assert sdk.identity.user_for(agent, actor="support", reason="ticket 42") == "user-42"
    last = sdk.audit.entries()[-1]
    assert last.action == "agent.user_lookup"
    assert last.subject == agent
    assert last.actor == "support"
    assert last.details == {"reason": "ticket 42"}
    assert sdk.audit.verify().ok


@pytest.mark.parametrize(("actor", "reason"), [("", "x"), ("x", ""), ("x" * 201, "x"), ("x", None)])
def test_user_for_needs_actor_and_reason(sdk: DualId, actor: str, reason: str) -> None:
    agent = sdk.identity.agent_for("user-42")
    before = snapshot(sdk)
    with pytest.raises(InvalidInput):
        sdk.identity.user_for(agent, actor=actor, reason=reason)
    assert snapshot(sdk) == before


def test_user_for_unknown_agent(sdk: DualId) -> None:
    before = snapshot(sdk)
    with pytest.raises(UnknownAgent):
        sdk.identity.user_for("agt_doesnotexist", actor="support", reason="x")
    assert snapshot(sdk) == before


@pytest.mark.parametrize("user_id", ["", "   ", "x" * (MAX_USER_ID_LENGTH + 1), None, 42])
def test_bad_user_ids(sdk: DualId, user_id: object) -> None:
    with pytest.raises(InvalidInput):
        sdk.identity.agent_for(user_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        sdk.identity.lookup(user_id)  # type: ignore[arg-type]


def test_longest_user_id_is_accepted(sdk: DualId) -> None:
    user = "x" * MAX_USER_ID_LENGTH
    agent = sdk.identity.agent_for(user)
    assert sdk.identity.user_for(agent, actor="a", reason="b") == user


def test_unicode_user_id(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("usuário-ñ-東京")
    assert sdk.identity.user_for(agent, actor="a", reason="b") == "usuário-ñ-東京"


def test_agent_for_from_many_threads(sdk: DualId) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            results.append(sdk.identity.agent_for("racer"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert len(rows(sdk, "SELECT agent_id FROM dualid_agent")) == 1
    assert len(rows(sdk, "SELECT agent_id FROM dualid_agent_key")) == 1
    assert sdk.audit.verify().entries == 1
