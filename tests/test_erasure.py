"""sdk.erase(): what it removes, what it leaves, what fails afterwards."""

from __future__ import annotations

import pytest

from dualid import DualId, ErasureReport, EventUserData
from dualid.errors import InvalidInput, UnknownAgent

from .support import rows, snapshot


def test_erase_removes_one_person_and_keeps_the_others(sdk: DualId) -> None:
    a = sdk.identity.agent_for("user-a")
    b = sdk.identity.agent_for("user-b")
    sdk.profiles.put(a, EventUserData(name="Ana", email="ana@example.com"))
    sdk.profiles.put(b, EventUserData(name="Bea"))
    report = sdk.erase(a)
    # DEK + agent row + the userId row + two profile fields.
    assert report == ErasureReport(rows_deleted=5, audit_seq=report.audit_seq)
    assert sdk.profiles.get(b) == EventUserData(name="Bea")
    assert sdk.identity.user_for(b, actor="a", reason="b") == "user-b"
    assert sdk.identity.lookup("user-a") is None
    assert sdk.identity.lookup("user-b") == b


def test_every_call_on_an_erased_agent_is_unknown_agent(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-a")
    sdk.profiles.put(agent, EventUserData(name="Ana"))
    sdk.erase(agent)
    calls = [
        lambda: sdk.profiles.get(agent),
        lambda: sdk.profiles.put(agent, EventUserData(name="Ana")),
        lambda: sdk.profiles.update(agent, name="Ana"),
        lambda: sdk.profiles.delete(agent),
        lambda: sdk.identity.user_for(agent, actor="a", reason="b"),
        lambda: sdk.erase(agent),
    ]
    for call in calls:
        before = snapshot(sdk)
        with pytest.raises(UnknownAgent) as info:
            call()
        assert agent not in str(info.value)
        assert snapshot(sdk) == before


def test_erase_entry_is_pii_free_and_counts_rows(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-a")
    report = sdk.erase(agent)
    entry = sdk.audit.entries()[-1]
    assert (entry.seq, entry.action, entry.subject) == (report.audit_seq, "agent.erased", agent)
    assert entry.details == {"rows": report.rows_deleted}


def test_erase_rejects_a_malformed_agent_id(sdk: DualId) -> None:
    with pytest.raises(InvalidInput):
        sdk.erase("user-a")
    with pytest.raises(UnknownAgent):
        sdk.erase("agt_never_existed")


def test_erase_of_an_agent_without_profile(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-a")
    assert sdk.erase(agent).rows_deleted == 3
    assert rows(sdk, "SELECT * FROM dualid_agent") == []
