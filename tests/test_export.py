"""``sdk.export(agent_id)``: everything held about one person, in one JSON-ready document
(GDPR Art. 15 and 20), on both backends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.errors import InvalidInput, UnknownAgent
from dualid.sdk import EXPORT_FORMAT
from dualid.testing import FakeClock

BISTRO = "bistro-7"
CLUB = "club-9"


@dataclass
class People:
    sdk: DualId
    clock: FakeClock
    ana: str
    ben: str
    active: str
    revoked: str
    expired: str
    ben_grant: str


@pytest.fixture
def people(sdk: DualId, clock: FakeClock) -> People:
    sdk.hosts.register(BISTRO, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.register(CLUB, kind=HostKind.CLUB, name="Chess Club")
    sdk.hosts.require(
        BISTRO,
        EventType.RESERVATION,
        required={DataField.NAME},
        optional={DataField.EMAIL, DataField.PHONE_NUMBER},
        purpose="table booking",
    )
    sdk.hosts.require(CLUB, EventType.CLUB_EVENT, required={DataField.NAME}, purpose="club")
    ana = sdk.identity.agent_for("user-ana")
    ben = sdk.identity.agent_for("user-ben")
    sdk.profiles.put(ana, EventUserData(name="Ana Lima", email="ana@example.org"))
    sdk.profiles.put(ben, EventUserData(name="Ben Okafor", email="ben@example.org"))
    reg = sdk.events.register(ana, BISTRO, EventType.RESERVATION, "res-1", share={"name"})
    ben_reg = sdk.events.register(ben, BISTRO, EventType.RESERVATION, "res-1", share={"name"})
    sdk.events.register(ana, CLUB, EventType.CLUB_EVENT, "meet-1", share={"name"})
    revoked = sdk.consent.grant(
        ana, BISTRO, fields={DataField.EMAIL}, event_id="res-1", purpose="confirmation"
    )
    sdk.consent.revoke(revoked.id)
    expired = sdk.consent.grant(
        ana,
        BISTRO,
        fields={DataField.EMAIL},
        event_id="res-1",
        purpose="reminder",
        expires_at=clock.now().time + timedelta(hours=1),
    )
    sdk.consent.set_default(ana, EventType.RESERVATION, {DataField.NAME})
    sdk.consent.set_default(ana, EventType.RESERVATION, {DataField.NAME, "email"}, host_id=CLUB)
    clock.advance(timedelta(hours=2))
    assert reg.grant_id is not None
    assert ben_reg.grant_id is not None
    return People(sdk, clock, ana, ben, reg.grant_id, revoked.id, expired.id, ben_reg.grant_id)


def _walk(value: Any) -> Any:
    """Every string in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    elif isinstance(value, str):
        yield value


def test_export_holds_everything(people: People) -> None:
    sdk = people.sdk
    doc = sdk.export(people.ana)
    assert doc["format"] == EXPORT_FORMAT
    reading = people.clock.now()
    assert doc["exportedAt"] == reading.time.isoformat()
    assert doc["clock"] == {"status": "synced", "uncertaintyMs": 5.0}
    assert doc["profile"] == {"name": "Ana Lima", "email": "ana@example.org"}
    assert doc["hosts"] == [
        {"hostId": BISTRO, "name": "Bistro Seven", "kind": "business"},
        {"hostId": CLUB, "name": "Chess Club", "kind": "club"},
    ]
    regs = {r["eventId"]: r for r in doc["registrations"]}
    assert set(regs) == {"res-1", "meet-1"}
    assert regs["res-1"]["shared"] == ["name"]
    assert regs["res-1"]["grantId"] == people.active
    assert [r.id for r in sdk.events.registrations(people.ana)] == [
        r["id"] for r in doc["registrations"]
    ]
    # Grants active and past.
    states = {g["id"]: g["state"] for g in doc["grants"]}
    assert states[people.active] == "active"
    assert states[people.revoked] == "revoked"
    assert states[people.expired] == "expired"
    assert set(states) == {g.id for g in sdk.consent.grants(people.ana, include_inactive=True)}
    expired = next(g for g in doc["grants"] if g["id"] == people.expired)
    assert expired["fields"] == ["email"]
    assert expired["purpose"] == "reminder"
    assert expired["expiresAt"] is not None
    assert expired["revokedAt"] is None
    assert doc["defaults"] == [
        {"eventType": "reservation", "hostId": None, "fields": ["name"]},
        {"eventType": "reservation", "hostId": CLUB, "fields": ["name", "email"]},
    ]
    # One genuine receipt per grant.
    assert [r["consent"]["grant_id"] for r in doc["receipts"]] == [g["id"] for g in doc["grants"]]
    assert all(sdk.consent.verify_receipt(r) for r in doc["receipts"])
    # The history: the person's audit entries, the receipts just issued included.
    actions = [e["action"] for e in doc["history"]]
    assert actions[:2] == ["agent.created", "profile.updated"]
    assert actions.count("consent.receipt_issued") == len(doc["grants"])
    assert {"registration.created", "consent.granted", "consent.revoked"} <= set(actions)
    assert [e["entryHash"] for e in doc["history"]] == [
        e.entry_hash for e in sdk.consent.history(people.ana)[: len(doc["history"])]
    ]


def test_export_is_json_ready_and_camel_case(people: People) -> None:
    doc = people.sdk.export(people.ana)
    assert json.loads(json.dumps(doc)) == doc
    for part in ("registrations", "grants", "defaults", "history", "hosts"):
        for item in doc[part]:
            assert all("_" not in key for key in item), (part, item)


def test_export_is_audited(people: People) -> None:
    sdk = people.sdk
    doc = sdk.export(people.ana)
    last = sdk.audit.entries(subject=people.ana)[-1]
    assert last.action == "agent.exported"
    assert last.at.isoformat() == doc["exportedAt"]
    assert dict(last.details) == {
        "format": EXPORT_FORMAT,
        "registrations": 2,
        "grants": 4,
        "history": len(doc["history"]),
    }
    # The next export shows the first one in its history.
    assert "agent.exported" in [e["action"] for e in sdk.export(people.ana)["history"]]
    assert sdk.audit.verify().ok


def test_p1_export_holds_no_agent_id_and_nothing_of_others(people: People) -> None:
    sdk = people.sdk
    # Something recorded with an agentId in a free-text detail is dropped from the export.
    sdk.identity.user_for(people.ana, actor="support", reason=f"same person as {people.ben}")
    doc = sdk.export(people.ana)
    text = json.dumps(doc)
    assert "agt_" not in text
    assert people.ana not in text
    assert people.ben not in text
    lookup = next(e for e in doc["history"] if e["action"] == "agent.user_lookup")
    assert lookup["details"] == {}
    assert lookup["actor"] == "support"
    for other in ("Ben Okafor", "ben@example.org", people.ben_grant, "user-ben", "user-ana"):
        assert other not in text
    # Ben's pairwise ref at the bistro is not in Ana's receipts.
    ben_ref = sdk.consent.receipt(people.ben_grant)["subject"]["ref"]
    assert ben_ref not in set(_walk(doc))
    # Ben's export is his own.
    ben_doc = sdk.export(people.ben)
    assert {g["id"] for g in ben_doc["grants"]} == {people.ben_grant}
    assert "Ana Lima" not in json.dumps(ben_doc)


def test_export_of_a_person_with_little_stored(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-new")
    doc = sdk.export(agent)
    assert doc["profile"] is None
    assert [e["action"] for e in doc["history"]] == ["agent.created"]
    assert all(doc[k] == [] for k in ("hosts", "registrations", "grants", "defaults", "receipts"))


def test_export_of_unknown_or_erased_agent(people: People) -> None:
    sdk = people.sdk
    with pytest.raises(InvalidInput):
        sdk.export("user-ana")
    with pytest.raises(UnknownAgent):
        sdk.export("agt_" + "a" * 26)
    sdk.erase(people.ana)
    head = sdk.audit.entries()[-1].seq
    with pytest.raises(UnknownAgent):
        sdk.export(people.ana)
    assert sdk.audit.entries()[-1].seq == head  # nothing written for an erased person
