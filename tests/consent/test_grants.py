from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dualid import DataField, EventType, FieldNotRequested, GrantState
from dualid.errors import (
    GrantNotActive,
    InvalidExpiry,
    InvalidInput,
    UnknownGrant,
    UnknownHost,
    UnknownRegistration,
)

from ..support import all_copy_fields, snapshot

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}


def _emails(sdk, host, event):
    return [a.data.email for a in sdk.events.attendees(host, event)]


def test_later_grant_takes_effect_for_the_event(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    assert _emails(sdk, world.host, "res-1") == [None]
    grant = sdk.consent.grant(
        world.ana, world.host, fields={DataField.EMAIL}, event_id="res-1", purpose="confirmation"
    )
    assert grant.state is GrantState.ACTIVE
    assert grant.event_type is EventType.RESERVATION
    assert _emails(sdk, world.host, "res-1") == ["ana.lima@example.com"]


def test_grant_copies_the_profile_at_grant_time(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.consent.grant(
        mworld.ana, mworld.host, fields={"email"}, event_id="res-1", purpose="confirmation"
    )
    sdk.profiles.update(mworld.ana, email="new.address@example.com")
    assert _emails(sdk, mworld.host, "res-1") == ["ana.lima@example.com"]


def test_host_wide_grant_covers_present_and_future_registrations(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.consent.grant(world.ana, world.host, fields={DataField.EMAIL}, purpose="newsletter")
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-2", share=SHARE)
    assert _emails(sdk, world.host, "res-1") == ["ana.lima@example.com"]
    assert _emails(sdk, world.host, "res-2") == ["ana.lima@example.com"]
    # never another host
    sdk.events.register(
        world.ana, world.other_host, EventType.CLUB_EVENT, "night-1", share={DataField.NAME}
    )
    assert _emails(sdk, world.other_host, "night-1") == [None]


def test_grant_only_for_declared_fields(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.hosts.register("silent", kind="company", name="Declares nothing")
    before = snapshot(sdk)
    with pytest.raises(FieldNotRequested):
        sdk.consent.grant(
            mworld.ana, mworld.host, fields={DataField.BIRTHDAY}, event_id="res-1", purpose="x"
        )
    with pytest.raises(FieldNotRequested):
        sdk.consent.grant(
            mworld.ana, mworld.host, fields={DataField.COMPANY_AFFILIATION}, purpose="x"
        )
    with pytest.raises(FieldNotRequested):
        sdk.consent.grant(mworld.ana, "silent", fields={DataField.NAME}, purpose="x")
    assert snapshot(sdk) == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"host_id": "nope"}, UnknownHost),
        ({"event_id": "never-registered"}, UnknownRegistration),
        ({"fields": set()}, InvalidInput),
        ({"fields": {"shoe_size"}}, InvalidInput),
        ({"purpose": ""}, InvalidInput),
        ({"event_type": "club_event"}, InvalidInput),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, InvalidExpiry),
        ({"expires_at": datetime(2030, 1, 1)}, InvalidExpiry),  # naive
    ],
)
def test_grant_bad_input_changes_nothing(mworld, kwargs, error):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    args = {
        "host_id": mworld.host,
        "fields": {DataField.EMAIL},
        "event_id": "res-1",
        "purpose": "confirmation",
    }
    args.update(kwargs)
    before = snapshot(sdk)
    with pytest.raises(error):
        sdk.consent.grant(mworld.ana, args.pop("host_id"), **args)
    assert snapshot(sdk) == before


def _grant_user(sdk, user_id, **kwargs):
    args = {"host_id": "bistro-7", "fields": {"email"}, "purpose": "newsletter", **kwargs}
    return sdk.consent.grant_user(user_id, args.pop("host_id"), **args)


def _set_default_user(sdk, user_id, **kwargs):
    args = {"event_type": "reservation", "fields": {"name"}, **kwargs}
    sdk.consent.set_default_user(user_id, args.pop("event_type"), args.pop("fields"), **args)


@pytest.mark.parametrize(
    ("twin", "refusals"),
    [
        (
            _grant_user,
            [
                ({"host_id": "nope"}, UnknownHost),
                ({"event_id": "res-1"}, UnknownRegistration),
                ({"fields": {"company_affiliation"}}, FieldNotRequested),
                ({"event_type": "club_event"}, FieldNotRequested),
                ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, InvalidExpiry),
                ({"purpose": ""}, InvalidInput),
            ],
        ),
        (
            _set_default_user,
            [
                ({"host_id": "nope"}, UnknownHost),
                ({"event_type": "gala"}, InvalidInput),
                ({"fields": {"shoe_size"}}, InvalidInput),
            ],
        ),
    ],
    ids=["grant_user", "set_default_user"],
)
def test_user_twins_provision_nothing_when_refused(mworld, twin, refusals):
    """grant_user and set_default_user create a first-time person's agent in their own
    transaction: a refusal leaves no agent, key, sealed userId or audit entry."""
    sdk = mworld.sdk
    before = snapshot(sdk)
    for kwargs, error in refusals:
        with pytest.raises(error):
            twin(sdk, "user-new", **kwargs)
        with pytest.raises(InvalidInput):
            twin(sdk, "", **kwargs)
    assert snapshot(sdk) == before
    assert sdk.identity.lookup("user-new") is None
    twin(sdk, "user-new")
    agent = sdk.identity.lookup("user-new")
    assert agent is not None
    actions = [e.action for e in sdk.consent.history(agent)]
    assert actions[0] == "agent.created"
    assert actions[1] in ("consent.granted", "consent.default_set")
    twin(sdk, "user-ana")  # an existing person keeps their agentId
    assert sdk.identity.lookup("user-ana") == mworld.ana
    assert len(sdk.consent.history(mworld.ana)) > 1


def test_expiry_within_clock_uncertainty_is_refused(mworld):
    sdk = mworld.sdk
    clock = sdk.clock
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    clock.set_uncertainty(timedelta(seconds=30))
    with pytest.raises(InvalidExpiry):
        sdk.consent.grant(
            mworld.ana,
            mworld.host,
            fields={"email"},
            event_id="res-1",
            purpose="x",
            expires_at=clock.now().time + timedelta(seconds=10),
        )


def test_expiry_counts_clock_uncertainty_against_sharing(world):
    sdk = world.sdk
    clock = sdk.clock
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    expires = clock.now().time + timedelta(hours=1)
    grant = sdk.consent.grant(
        world.ana, world.host, fields={"email"}, event_id="res-1", purpose="x", expires_at=expires
    )
    clock.set_uncertainty(timedelta(seconds=5))
    clock.advance(timedelta(minutes=59, seconds=54))  # 6 s before expiry, bound 5 s
    assert _emails(sdk, world.host, "res-1") == ["ana.lima@example.com"]
    clock.advance(timedelta(seconds=2))  # 4 s before expiry: it may have expired
    assert _emails(sdk, world.host, "res-1") == [None]
    assert sdk.consent.get(grant.id).state is GrantState.EXPIRED
    assert sdk.consent.explain(world.ana, world.host, "res-1", "email").reason == "expired"
    # An expired grant has ended: revoking it is refused like a second revoke and writes
    # nothing (it used to be marked revoked).
    before = snapshot(sdk)
    with pytest.raises(GrantNotActive, match="expired") as caught:
        sdk.consent.revoke(grant.id)
    assert caught.value.details == {"state": "expired"}
    with pytest.raises(UnknownGrant):  # another person's: no state revealed
        sdk.consent.revoke(grant.id, agent_id=world.bo)
    assert snapshot(sdk) == before
    assert sdk.consent.get(grant.id).revoked_at is None
    # the copy is still there until purged, then gone
    assert sdk.consent.purge_expired() == 1
    assert sdk.consent.purge_expired() == 0


def test_revoke_is_immediate_and_deletes_the_copy(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    grant = sdk.consent.grant(
        world.ana, world.host, fields={"email"}, event_id="res-1", purpose="confirmation"
    )
    sealed_before = len(all_copy_fields(sdk))
    revoked = sdk.consent.revoke(grant.id)
    assert revoked.state is GrantState.REVOKED
    assert revoked.revoked_at == sdk.clock.now().time
    assert _emails(sdk, world.host, "res-1") == [None]
    assert len(all_copy_fields(sdk)) == sealed_before - 1
    before = snapshot(sdk)
    with pytest.raises(GrantNotActive):
        sdk.consent.revoke(grant.id)
    with pytest.raises(UnknownGrant):
        sdk.consent.revoke("gr_doesnotexist")
    with pytest.raises(UnknownGrant):
        sdk.consent.revoke("not a grant id")
    assert snapshot(sdk) == before


def test_revoke_keeps_fields_another_grant_covers(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    event_grant = sdk.consent.grant(
        mworld.ana, mworld.host, fields={"email"}, event_id="res-1", purpose="confirmation"
    )
    sdk.consent.grant(mworld.ana, mworld.host, fields={"email"}, purpose="newsletter")
    sdk.consent.revoke(event_grant.id)
    assert _emails(sdk, mworld.host, "res-1") == ["ana.lima@example.com"]


def test_revoke_with_owner_check(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    grant = sdk.consent.grant(mworld.ana, mworld.host, fields={"email"}, purpose="newsletter")
    with pytest.raises(UnknownGrant):
        sdk.consent.revoke(grant.id, agent_id=mworld.bo)
    assert sdk.consent.get(grant.id).state is GrantState.ACTIVE


def test_revoke_host_withdraws_everything_for_that_host_only(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-2", share=SHARE)
    sdk.consent.grant(world.ana, world.host, fields={"email"}, purpose="newsletter")
    sdk.events.register(
        world.ana, world.other_host, EventType.CLUB_EVENT, "night-1", share={DataField.NAME}
    )
    assert sdk.consent.revoke_host(world.ana, world.host) == 3
    for event in ("res-1", "res-2"):
        (attendee,) = sdk.events.attendees(world.host, event)
        assert attendee.data.personal_fields() == set()
        assert attendee.shared_at is None
    (club,) = sdk.events.attendees(world.other_host, "night-1")
    assert club.data.name == "Ana Lima"
    assert {s.host_id for s in sdk.consent.shared(world.ana)} == {world.other_host}


def test_revoke_event(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-2", share=SHARE)
    assert sdk.consent.revoke_event(mworld.ana, mworld.host, "res-1") == 1
    (gone,) = sdk.events.attendees(mworld.host, "res-1")
    assert gone.data.personal_fields() == set()
    (kept,) = sdk.events.attendees(mworld.host, "res-2")
    assert kept.data.name == "Ana Lima"
    with pytest.raises(UnknownRegistration):
        sdk.consent.revoke_event(mworld.ana, mworld.host, "res-9")


def test_shared_lists_active_grants_with_dates(mworld):
    sdk = mworld.sdk
    clock = sdk.clock
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    until = clock.now().time + timedelta(days=30)
    g = sdk.consent.grant(
        mworld.ana, mworld.host, fields={"email"}, purpose="newsletter", expires_at=until
    )
    items = {s.grant_id: s for s in sdk.consent.shared(mworld.ana)}
    assert len(items) == 2
    assert items[g.id].event_id is None
    assert items[g.id].until == until
    assert items[g.id].host_name == "Bistro Seven"
    assert items[g.id].fields == {DataField.EMAIL}
    sdk.consent.revoke(g.id)
    assert g.id not in {s.grant_id for s in sdk.consent.shared(mworld.ana)}
    assert g.id in {x.id for x in sdk.consent.grants(mworld.ana, include_inactive=True)}


def test_history_holds_the_persons_entries_without_pii(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    g = sdk.consent.grant(mworld.ana, mworld.host, fields={"email"}, purpose="newsletter")
    sdk.consent.revoke(g.id)
    sdk.consent.set_default(mworld.ana, EventType.CLUB_EVENT, {DataField.NAME})
    actions = [e.action for e in sdk.consent.history(mworld.ana)]
    assert actions == [
        "agent.created",
        "profile.updated",
        "registration.created",
        "consent.granted",
        "consent.revoked",
        "consent.default_set",
    ]
    text = repr(sdk.consent.history(mworld.ana))
    for value in ("Ana Lima", "+14155552671", "ana.lima@example.com", "user-ana"):
        assert value not in text


def test_explain_reasons(mworld):
    sdk = mworld.sdk
    explain = sdk.consent.explain
    assert explain(mworld.ana, mworld.host, "res-1", "name").reason == "not_registered"
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    name = explain(mworld.ana, mworld.host, "res-1", DataField.NAME)
    assert name.visible
    assert name.required
    assert len(name.grant_ids) == 1
    assert explain(mworld.ana, mworld.host, "res-1", "birthday").reason == "not_declared"
    assert explain(mworld.ana, mworld.host, "res-1", "email").reason == "no_grant"
    g = sdk.consent.grant(mworld.ana, mworld.host, fields={"email"}, purpose="p")
    assert explain(mworld.ana, mworld.host, "res-1", "email").visible
    sdk.consent.revoke(g.id)
    assert explain(mworld.ana, mworld.host, "res-1", "email").reason == "revoked"
    sdk.profiles.update(mworld.ana, email=None)
    sdk.consent.grant(mworld.ana, mworld.host, fields={"email"}, purpose="p")
    assert explain(mworld.ana, mworld.host, "res-1", "email").reason == "no_value"


def test_registrations_report_what_the_host_sees(world):
    # After revoke_event the copy is gone while a host-wide grant still covers the field:
    # the host sees nothing, and the person's view of the registration agrees.
    sdk = world.sdk
    sdk.consent.grant(world.ana, world.host, fields={DataField.EMAIL}, purpose="newsletter")
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    (reg,) = [r for r in sdk.events.registrations(world.ana) if r.event_id == "res-1"]
    assert DataField.EMAIL in reg.shared
    assert _emails(sdk, world.host, "res-1") == ["ana.lima@example.com"]
    sdk.consent.revoke_event(world.ana, world.host, "res-1")
    assert _emails(sdk, world.host, "res-1") == [None]
    (reg,) = [r for r in sdk.events.registrations(world.ana) if r.event_id == "res-1"]
    assert reg.shared == frozenset()
    explained = sdk.consent.explain(world.ana, world.host, "res-1", DataField.EMAIL)
    assert (explained.visible, explained.reason) == (False, "no_value")
