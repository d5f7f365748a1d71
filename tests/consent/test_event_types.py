"""Every event type end to end: declare, register, view, grant, revoke, erase."""

from __future__ import annotations

import pytest

from dualid import DataField, EventType, EventUserData, HostKind
from dualid.errors import UnknownEvent

KIND = {
    EventType.RESERVATION: HostKind.BUSINESS,
    EventType.COMMUNITY_EVENT: HostKind.COMMUNITY,
    EventType.CLUB_EVENT: HostKind.CLUB,
    EventType.EXPERT_EVENT: HostKind.EXPERT,
    EventType.BUSINESS_EVENT: HostKind.BUSINESS,
    EventType.COMPANY_EVENT: HostKind.COMPANY,
}


@pytest.mark.parametrize("event_type", list(EventType))
def test_event_type_end_to_end(sdk, event_type):
    host = f"host-{event_type.value}"
    sdk.hosts.register(host, kind=KIND[event_type], name=f"Host {event_type.value}")
    sdk.hosts.require(
        host,
        event_type,
        required={DataField.NAME},
        optional={DataField.EMAIL, DataField.BIRTHDAY, DataField.COMPANY_AFFILIATION},
        purpose=f"{event_type.value} attendance",
    )
    agent = sdk.identity.agent_for(f"user-{event_type.value}")
    sdk.profiles.put(
        agent,
        EventUserData(
            name="Dana",
            email="dana@example.com",
            birthday="1988-08-08",
            company_affiliation="Initech",
            additional_data={"diet": "vegan"},
        ),
    )
    sdk.events.register(agent, host, event_type, "ev-1", share={DataField.NAME})
    (attendee,) = sdk.events.attendees(host, "ev-1")
    assert attendee.data.personal_fields() == {DataField.NAME}
    assert attendee.data.event_type is event_type
    grant = sdk.consent.grant(
        agent,
        host,
        fields={DataField.COMPANY_AFFILIATION, DataField.BIRTHDAY},
        event_type=event_type,
        purpose="badge",
    )
    (attendee,) = sdk.events.attendees(host, "ev-1")
    assert attendee.data.company_affiliation == "Initech"
    assert str(attendee.data.birthday) == "1988-08-08"
    sdk.consent.revoke(grant.id)
    (attendee,) = sdk.events.attendees(host, "ev-1")
    assert attendee.data.personal_fields() == {DataField.NAME}
    sdk.erase(agent)
    # erasure removes the registration; the event stays, with nobody on its list
    assert sdk.events.attendees(host, "ev-1") == []
    assert sdk.events.get(host, "ev-1").event_type is event_type
    with pytest.raises(UnknownEvent):
        sdk.events.attendees(host, "ev-never")
    assert sdk.audit.verify().ok
