from __future__ import annotations

import pytest

from dualid import ConsentRequired, DataField, EventType, EventUserData, FieldNotRequested
from dualid.errors import (
    DuplicateRegistration,
    InvalidInput,
    UnknownAgent,
    UnknownHost,
    UnknownRegistration,
)

from ..support import snapshot


def test_register_shares_exactly_the_chosen_fields(world):
    sdk = world.sdk
    reg = sdk.events.register(
        world.ana,
        world.host,
        EventType.RESERVATION,
        "res-991",
        share={DataField.NAME, DataField.PHONE_NUMBER},
    )
    assert reg.shared == {DataField.NAME, DataField.PHONE_NUMBER}
    assert reg.grant_id is not None
    (attendee,) = sdk.events.attendees(world.host, "res-991")
    assert attendee.data.name == "Ana Lima"
    assert attendee.data.phone_number == "+14155552671"
    assert attendee.data.email is None  # optional, not shared
    assert attendee.data.shared_with_host == world.host
    assert attendee.data.event_type is EventType.RESERVATION
    assert attendee.shared_at == sdk.clock.now().time


def test_missing_required_consent_names_fields_and_writes_nothing(world):
    sdk = world.sdk
    before = snapshot(sdk)
    with pytest.raises(ConsentRequired) as info:
        sdk.events.register(
            world.ana, world.host, EventType.RESERVATION, "res-1", share={DataField.NAME}
        )
    assert info.value.fields == ("phone_number",)
    assert info.value.code == "CONSENT_REQUIRED"
    assert "+1415" not in str(info.value)
    assert snapshot(sdk) == before


def test_missing_required_value_is_consent_required(mworld):
    sdk = mworld.sdk
    carl = sdk.identity.agent_for("user-carl")
    sdk.profiles.put(carl, EventUserData(name="Carl"))
    before = snapshot(sdk)
    with pytest.raises(ConsentRequired) as info:
        sdk.events.register(
            carl,
            mworld.host,
            EventType.RESERVATION,
            "res-1",
            share={DataField.NAME, DataField.PHONE_NUMBER},
        )
    assert info.value.fields == ("phone_number",)
    assert snapshot(sdk) == before
    # given for this event only: accepted, and it does not touch the profile
    sdk.events.register(
        carl,
        mworld.host,
        EventType.RESERVATION,
        "res-1",
        share={DataField.NAME, DataField.PHONE_NUMBER},
        data=EventUserData(phone_number="+14155550100"),
    )
    (attendee,) = sdk.events.attendees(mworld.host, "res-1")
    assert attendee.data.phone_number == "+14155550100"
    assert sdk.profiles.get(carl).phone_number is None


def test_sharing_an_undeclared_field_is_refused(mworld):
    sdk = mworld.sdk
    before = snapshot(sdk)
    with pytest.raises(FieldNotRequested) as info:
        sdk.events.register(
            mworld.ana,
            mworld.host,
            EventType.RESERVATION,
            "res-1",
            share={DataField.NAME, DataField.PHONE_NUMBER, DataField.BIRTHDAY},
        )
    assert info.value.fields == ("birthday",)
    assert snapshot(sdk) == before


def test_duplicate_registration(mworld):
    sdk = mworld.sdk
    share = {DataField.NAME, DataField.PHONE_NUMBER}
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=share)
    before = snapshot(sdk)
    with pytest.raises(DuplicateRegistration):
        sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=share)
    assert snapshot(sdk) == before


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"host_id": "nope"}, UnknownHost),
        ({"agent_id": "agt_doesnotexist"}, UnknownAgent),
        ({"agent_id": "not-an-agent"}, InvalidInput),
        ({"event_type": "wedding"}, InvalidInput),
        ({"event_id": "bad id with spaces"}, InvalidInput),
        ({"share": {"shoe_size"}}, InvalidInput),
        ({"data": {"name": "raw dict"}}, InvalidInput),
    ],
)
def test_register_bad_input_changes_nothing(mworld, kwargs, error):
    sdk = mworld.sdk
    args = {
        "agent_id": mworld.ana,
        "host_id": mworld.host,
        "event_type": EventType.RESERVATION,
        "event_id": "res-1",
        "share": {DataField.NAME, DataField.PHONE_NUMBER},
    }
    args.update(kwargs)
    before = snapshot(sdk)
    with pytest.raises(error):
        sdk.events.register(
            args.pop("agent_id"),
            args.pop("host_id"),
            args.pop("event_type"),
            args.pop("event_id"),
            **args,
        )
    assert snapshot(sdk) == before


def test_defaults_apply_with_precedence(mworld):
    """Explicit share > per-host default > per-event-type default > nothing."""
    sdk = mworld.sdk
    sdk.consent.set_default(
        mworld.ana,
        EventType.RESERVATION,
        {DataField.NAME, DataField.PHONE_NUMBER, DataField.BIRTHDAY},
    )
    reg = sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1")
    # the birthday default is silently limited to what the host declared
    assert reg.shared == {DataField.NAME, DataField.PHONE_NUMBER}
    sdk.consent.set_default(
        mworld.ana,
        EventType.RESERVATION,
        {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL},
        host_id=mworld.host,
    )
    reg2 = sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-2")
    assert reg2.shared == {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL}
    # nothing set for this type: nothing shared; the club requires a name
    with pytest.raises(ConsentRequired):
        sdk.events.register(mworld.ana, mworld.other_host, EventType.CLUB_EVENT, "night-1")
    assert sdk.consent.defaults(mworld.ana)[(EventType.RESERVATION, mworld.host)] == {
        DataField.NAME,
        DataField.PHONE_NUMBER,
        DataField.EMAIL,
    }


def test_registrations_and_cancel(mworld):
    sdk = mworld.sdk
    share = {DataField.NAME, DataField.PHONE_NUMBER}
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=share)
    (reg,) = sdk.events.registrations(mworld.ana)
    assert reg.event_id == "res-1"
    assert reg.shared == share
    sdk.events.cancel(mworld.ana, mworld.host, "res-1")
    assert sdk.events.registrations(mworld.ana) == []
    assert sdk.consent.shared(mworld.ana) == []
    with pytest.raises(UnknownRegistration):
        sdk.events.cancel(mworld.ana, mworld.host, "res-1")


def test_register_user_provisions_nothing_when_refused(mworld):
    sdk = mworld.sdk
    before = snapshot(sdk)
    with pytest.raises(ConsentRequired):
        sdk.events.register_user(
            "user-new", mworld.host, EventType.RESERVATION, "res-1", share={DataField.NAME}
        )
    assert snapshot(sdk) == before
    assert sdk.identity.lookup("user-new") is None
    reg = sdk.events.register_user(
        "user-new",
        mworld.host,
        EventType.RESERVATION,
        "res-1",
        share={DataField.NAME, DataField.PHONE_NUMBER},
        data=EventUserData(name="Neu", phone_number="+14155550199"),
    )
    agent = sdk.identity.lookup("user-new")
    assert agent is not None
    assert [r.id for r in sdk.events.registrations(agent)] == [reg.id]
    # an existing user keeps their agentId
    sdk.events.register_user(
        "user-ana",
        mworld.host,
        EventType.RESERVATION,
        "res-2",
        share={DataField.NAME, DataField.PHONE_NUMBER},
    )
    assert {r.event_id for r in sdk.events.registrations(mworld.ana)} == {"res-2"}
