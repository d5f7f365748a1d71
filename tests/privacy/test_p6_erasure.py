"""P6: erasure is crypto-shredding. The agent's data key and rows are gone in one
transaction, any copy of its ciphertext taken before is unreadable, the audit trail still
verifies and holds no personal data, and the person can come back as a new agent."""

from __future__ import annotations

import pytest

from dualid import DecryptionFailed, DualId, EventUserData
from dualid._vault import load_deks
from dualid.crypto import field_aad, open_field
from dualid.errors import UnknownAgent

from ..support import InjectedFault, assert_no_pii, execute, fail_on_sql, rows

USER = "erase-me-user-5c1e"
DATA = EventUserData(
    name="Philippa Vandermeer",
    email="philippa.v@example.org",
    phone_number="+442079460958",
    additional_data={"note": "wheelchair-access-kq9"},
)
PII = [USER, "Philippa", "Vandermeer", "philippa.v@example.org", "2079460958", "kq9"]


def test_erasure_destroys_the_key_and_the_rows(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, DATA)
    sdk.erase(agent)
    for table in ("dualid_agent", "dualid_agent_key", "dualid_sealed"):
        assert rows(sdk, f"SELECT * FROM {table} WHERE agent_id = :a", a=agent) == []


def test_a_copy_taken_before_erasure_is_unreadable(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER)
    other = sdk.identity.agent_for("someone-else")
    sdk.profiles.put(agent, DATA)
    sdk.profiles.put(other, EventUserData(name="Other"))
    backup = rows(sdk, "SELECT * FROM dualid_sealed WHERE agent_id = :a", a=agent)
    assert len(backup) == 5  # the userId and four profile fields
    # Control: before erasure the copy opens with the agent's key.
    with sdk.store.read() as conn:
        key = load_deks(conn, sdk._rt.provider, [agent])[agent]
    for row in backup:
        aad = field_aad(agent, row.record_id, row.field, row.dek_version)
        assert open_field(key.aead, bytes(row.ciphertext), aad)

    sdk.erase(agent)

    # Restore the copied ciphertexts (a replica or a backup without the key).
    for row in backup:
        execute(
            sdk,
            "INSERT INTO dualid_sealed (record_id, field, agent_id, dek_version, ciphertext, "
            "sealed_at) VALUES (:record_id, :field, :agent_id, :dek_version, :ciphertext, "
            ":sealed_at)",
            **row._asdict(),
        )
    with pytest.raises(UnknownAgent):
        sdk.profiles.get(agent)
    with pytest.raises(UnknownAgent):
        sdk.identity.user_for(agent, actor="support", reason="p6")
    # No data key left in the store opens them: not the agent's (gone), not anyone else's.
    with sdk.store.read() as conn:
        deks = load_deks(conn, sdk._rt.provider, [agent, other])
    assert set(deks) == {other}
    for row in backup:
        aad = field_aad(agent, row.record_id, row.field, row.dek_version)
        for key in deks.values():
            with pytest.raises(DecryptionFailed):
                open_field(key.aead, bytes(row.ciphertext), aad)


def test_audit_still_verifies_and_holds_no_personal_data(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, DATA)
    sdk.identity.user_for(agent, actor="support", reason="ticket 7")
    report = sdk.erase(agent)
    verified = sdk.audit.verify()
    assert verified.ok
    assert verified.entries == report.audit_seq
    # The person's history (as agent) stays; it never held their data.
    assert [e.action for e in sdk.audit.entries(subject=agent)] == [
        "agent.created",
        "profile.updated",
        "agent.user_lookup",
        "agent.erased",
    ]
    bodies = "\n".join(r[0] for r in rows(sdk, "SELECT body FROM dualid_audit"))
    assert_no_pii(bodies, PII)


def test_erasing_twice_is_unknown_agent(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER)
    sdk.erase(agent)
    with pytest.raises(UnknownAgent):
        sdk.erase(agent)
    assert sdk.audit.verify().entries == 2


def test_the_same_user_comes_back_as_a_new_agent(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, DATA)
    sdk.erase(agent)
    again = sdk.identity.agent_for(USER)
    assert again != agent
    assert sdk.profiles.get(again) is None  # nothing carried over
    assert sdk.identity.user_for(again, actor="a", reason="b") == USER


def test_erasure_is_one_transaction(sdk: DualId) -> None:
    # If the audit entry cannot be written, nothing is erased: the key and rows deleted
    # before it come back with the rollback.
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, DATA)
    with fail_on_sql(sdk, "INSERT INTO dualid_audit") as seen, pytest.raises(InjectedFault):
        sdk.erase(agent)
    assert any("INSERT INTO dualid_audit" in s for s in seen)
    assert sdk.profiles.get(agent) == DATA
    assert sdk.identity.lookup(USER) == agent
    assert sdk.audit.verify().ok
