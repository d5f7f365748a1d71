"""The host's view: P1 (no agentId), P2 (only active consent), P5 (pairwise refs)."""

from __future__ import annotations

import json
import logging

import pytest

from dualid import DataField, EventType, EventUserData
from dualid.errors import InvalidInput, UnknownEvent

from ..support import rows

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}


def _all_agent_ids(sdk) -> list[str]:
    return [r[0] for r in rows(sdk, "SELECT agent_id FROM dualid_agent")]


def test_p1_no_agent_id_reaches_a_host(world, caplog):
    sdk = world.sdk
    caplog.set_level(logging.DEBUG)
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(world.bo, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    grant = sdk.consent.grant(world.ana, world.host, fields={"email"}, purpose="newsletter")
    page = sdk.events.attendees_page(world.host, "res-1", limit=1)
    outputs = [
        repr(sdk.events.attendees(world.host, "res-1")),
        json.dumps([a.to_json() for a in sdk.events.attendees(world.host, "res-1")]),
        repr(page),
        str(page.next_cursor),
        json.dumps(sdk.consent.receipt(grant.id)),
        repr(sdk.hosts.get(world.host)),
        repr(sdk.hosts.requirements(world.host)),
    ]
    for exc_call in (
        lambda: sdk.events.attendees(world.host, "no-such-event"),
        lambda: sdk.events.attendees_page(world.host, "res-1", cursor="garbage!"),
    ):
        with pytest.raises((UnknownEvent, InvalidInput)) as info:
            exc_call()
        outputs.append(repr(info.value) + json.dumps(info.value.to_dict()))
    outputs.append(caplog.text)
    blob = "\n".join(outputs)
    agent_ids = _all_agent_ids(sdk)
    assert len(agent_ids) == 2
    for agent_id in agent_ids:
        assert agent_id not in blob


def test_p2_host_gets_only_actively_consented_fields(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(
        world.bo,
        world.host,
        EventType.RESERVATION,
        "res-1",
        share=SHARE | {DataField.EMAIL},
    )
    by_phone = {a.data.phone_number: a for a in sdk.events.attendees(world.host, "res-1")}
    ana, bo = by_phone["+14155552671"], by_phone["+442079460958"]
    # Ana did not share email or any undeclared field, though her profile has them
    assert ana.data.personal_fields() == SHARE
    assert bo.data.personal_fields() == SHARE | {DataField.EMAIL}
    # the host drops email from its requirements: it stops receiving it (minimisation)
    sdk.hosts.require(world.host, EventType.RESERVATION, required=SHARE, purpose="table booking")
    for attendee in sdk.events.attendees(world.host, "res-1"):
        assert DataField.EMAIL not in attendee.data.personal_fields()


def test_p2_other_events_and_hosts_see_nothing(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(world.bo, world.host, EventType.RESERVATION, "res-2", share=SHARE)
    assert [a.data.name for a in sdk.events.attendees(world.host, "res-1")] == ["Ana Lima"]
    with pytest.raises(UnknownEvent):
        sdk.events.attendees(world.other_host, "res-1")


def test_p5_refs_are_pairwise(world):
    sdk = world.sdk
    sdk.hosts.require(world.other_host, EventType.RESERVATION, required={"name"}, purpose="p")
    for event in ("res-1", "res-2"):
        sdk.events.register(world.ana, world.host, EventType.RESERVATION, event, share=SHARE)
    sdk.events.register(world.ana, world.other_host, EventType.RESERVATION, "r", share={"name"})
    sdk.events.register(world.bo, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    refs_1 = {a.data.name: a.ref for a in sdk.events.attendees(world.host, "res-1")}
    (ana_2,) = sdk.events.attendees(world.host, "res-2")
    (ana_other,) = sdk.events.attendees(world.other_host, "r")
    assert refs_1["Ana Lima"] == ana_2.ref  # stable at one host
    assert refs_1["Ana Lima"] != ana_other.ref  # different at another host
    assert refs_1["Ana Lima"] != refs_1["Bo Berg"]  # distinct people
    # not derivable from public values without the SDK's key
    import hashlib
    import hmac

    for candidate_key in (b"", world.host.encode(), world.ana.encode()):
        guess = hmac.new(candidate_key, f"{world.host}\x1f{world.ana}".encode(), hashlib.sha256)
        assert guess.hexdigest()[:20] not in refs_1["Ana Lima"]


def test_p5_refs_are_stable_across_reopen_and_unlinkable_across_stores(tmp_path, master_key):
    from dualid import DualId

    def setup(sdk):
        agent = sdk.identity.agent_for("user-ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        sdk.hosts.register("h", kind="club", name="H")
        sdk.hosts.require("h", EventType.CLUB_EVENT, required={"name"}, purpose="p")
        sdk.events.register(agent, "h", EventType.CLUB_EVENT, "e-1", share={"name"})

    def ref(sdk):
        (attendee,) = sdk.events.attendees("h", "e-1")
        return attendee.ref

    url = f"sqlite:///{tmp_path}/a.db"
    with DualId.open(url, keys=master_key) as sdk:
        setup(sdk)
        first = ref(sdk)
    with DualId.open(url, keys=master_key) as sdk:
        assert ref(sdk) == first
    # same userId, same host id, same master key, another store: another root secret
    with DualId.open(f"sqlite:///{tmp_path}/b.db", keys=master_key) as other:
        setup(other)
        assert ref(other) != first


def test_paging_is_stable_and_complete(mworld):
    sdk = mworld.sdk
    people = []
    for i in range(23):
        agent = sdk.identity.agent_for(f"user-{i}")
        sdk.profiles.put(agent, EventUserData(name=f"P{i}", phone_number=f"+1415555{1000 + i}"))
        sdk.events.register(agent, mworld.host, EventType.RESERVATION, "big", share=SHARE)
        people.append(agent)
    seen, cursor = [], None
    while True:
        page = sdk.events.attendees_page(mworld.host, "big", cursor=cursor, limit=5)
        assert len(page.items) <= 5
        seen.extend(a.ref for a in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert seen == [a.ref for a in sdk.events.iter_attendees(mworld.host, "big", batch=7)]
    assert seen == [a.ref for a in sdk.events.attendees(mworld.host, "big")]
    with pytest.raises(InvalidInput):
        sdk.events.attendees_page(mworld.host, "big", limit=0)


def test_host_reads_are_audited_without_pii(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    before = sdk.audit.entries()[-1].seq
    sdk.events.attendees(mworld.host, "res-1")
    (entry,) = [e for e in sdk.audit.entries() if e.action == "host.read_attendees"]
    assert entry.host_id == mworld.host
    assert entry.details == {
        "event_id": "res-1",
        "attendees": 1,
        "fields": ["name", "phone_number"],
        # the snapshot the read saw: every entry up to the registration, nothing after
        "snapshot_seq": before,
        "snapshot": [before],  # one partition (memory store): its newest entry
        "read_at": sdk.clock.now().time.isoformat(timespec="microseconds"),
    }
    assert entry.seq == before + 1
    assert entry.subject is None
    assert sdk.audit.verify().ok


def test_p5_batched_refs_equal_single_refs(mworld):
    derived = mworld.sdk._rt.derived
    for host in ("bistro-7", "club-9"):
        many = derived.pairwise_refs(host)
        for agent in (mworld.ana, mworld.bo):
            assert many(agent) == derived.pairwise_ref(host, agent)
    assert derived.pairwise_refs("bistro-7")(mworld.ana) != derived.pairwise_refs("club-9")(
        mworld.ana
    )


def test_attendees_reads_a_list_longer_than_a_page_as_one_audited_read(mworld, monkeypatch):
    """attendees() walks the event in internal pages inside one transaction: the list is
    complete, in the paging order, and the read is one audit entry whatever its length."""
    from dualid.consent import _events

    monkeypatch.setattr(_events, "_PAGE_MAX", 4)  # 10 attendees: pages of 4, 4 and 2
    sdk = mworld.sdk
    shares = [SHARE, SHARE | {DataField.EMAIL}]
    for i in range(10):
        agent = sdk.identity.agent_for(f"user-{i}")
        data = EventUserData(name=f"P{i}", phone_number=f"+1415555{1000 + i}", email=f"p{i}@x.org")
        sdk.profiles.put(agent, data)
        share = shares[i % 2]
        sdk.events.register(agent, mworld.host, EventType.RESERVATION, "big", share=share)
    before = [e.seq for e in sdk.audit.entries() if e.action == "host.read_attendees"]
    listed = sdk.events.attendees(mworld.host, "big")
    reads = [e for e in sdk.audit.entries() if e.action == "host.read_attendees"]
    (entry,) = [e for e in reads if e.seq not in before]
    seen = ("snapshot_seq", "snapshot", "read_at")
    assert {k: v for k, v in entry.details.items() if k in seen} == {
        "snapshot_seq": entry.seq - 1,
        "snapshot": [entry.seq - 1],
        "read_at": sdk.clock.now().time.isoformat(timespec="microseconds"),
    }
    assert {k: v for k, v in entry.details.items() if k not in seen} == {
        "event_id": "big",
        "attendees": 10,
        "fields": ["email", "name", "phone_number"],
    }
    assert sorted(a.data.name or "" for a in listed) == sorted(f"P{i}" for i in range(10))
    streamed = list(sdk.events.iter_attendees(mworld.host, "big", batch=3))
    assert [(a.ref, a.data, a.shared_at) for a in listed] == [
        (a.ref, a.data, a.shared_at) for a in streamed
    ]
    by_name = {a.data.name: a.data.personal_fields() for a in listed}
    assert by_name["P2"] == SHARE
    assert by_name["P3"] == SHARE | {DataField.EMAIL}
    monkeypatch.setattr(_events, "_PAGE_MAX", 5)  # a list that ends exactly on a page
    assert len(sdk.events.attendees(mworld.host, "big")) == 10
