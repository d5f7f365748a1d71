"""Events are first-class (issue 12, item 5): one host, one event type fixed when the event
is created (explicitly or by its first registration); another type is EventTypeMismatch
and writes nothing; an event without registrations still exists (an empty list)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dualid import DataField, EventType
from dualid.errors import (
    AlreadyExists,
    EventTypeMismatch,
    InvalidInput,
    UnknownEvent,
    UnknownHost,
)

from ..support import snapshot
from .conftest import setup_world

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}


@pytest.fixture
def world(sdk):
    w = setup_world(sdk)
    sdk.hosts.require(w.host, EventType.CLUB_EVENT, required={DataField.NAME}, purpose="club")
    return w


def test_first_registration_fixes_the_event_type(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.CLUB_EVENT, "ev-1", share={"name"})
    event = sdk.events.get(world.host, "ev-1")
    assert event.event_type is EventType.CLUB_EVENT
    assert (event.host_id, event.event_id, event.title, event.starts_at) == (
        world.host,
        "ev-1",
        None,
        None,
    )
    before = snapshot(sdk)
    with pytest.raises(EventTypeMismatch) as info:
        sdk.events.register(world.bo, world.host, EventType.RESERVATION, "ev-1", share=SHARE)
    assert info.value.code == "EVENT_TYPE_MISMATCH"
    assert info.value.details["event_type"] == "club_event"
    assert snapshot(sdk) == before  # nothing written: no agent row, grant, copy or entry
    attendees = sdk.events.attendees(world.host, "ev-1")
    assert [a.data.event_type for a in attendees] == [EventType.CLUB_EVENT]
    assert [a.data.name for a in attendees] == ["Ana Lima"]


def test_the_same_event_id_at_another_host_is_another_event(world):
    sdk = world.sdk
    sdk.hosts.require(world.other_host, EventType.RESERVATION, required={"name"}, purpose="p")
    sdk.events.register(world.ana, world.host, EventType.CLUB_EVENT, "ev-1", share={"name"})
    sdk.events.register(world.bo, world.other_host, EventType.RESERVATION, "ev-1", share={"name"})
    assert sdk.events.get(world.other_host, "ev-1").event_type is EventType.RESERVATION


def test_create_then_register(world):
    sdk = world.sdk
    starts = datetime(2027, 3, 1, 19, 30, tzinfo=UTC)
    event = sdk.events.create(
        world.host, "dinner-1", EventType.RESERVATION, title="Chef's table", starts_at=starts
    )
    assert (event.event_type, event.title, event.starts_at) == (
        EventType.RESERVATION,
        "Chef's table",
        starts,
    )
    assert sdk.events.attendees(world.host, "dinner-1") == []  # exists, nobody yet
    created = [e for e in sdk.audit.entries() if e.action == "event.created"]
    assert [e.details for e in created] == [{"event_id": "dinner-1", "event_type": "reservation"}]
    with pytest.raises(EventTypeMismatch):
        sdk.events.register(world.ana, world.host, EventType.CLUB_EVENT, "dinner-1", share={"name"})
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "dinner-1", share=SHARE)
    assert len(sdk.events.attendees(world.host, "dinner-1")) == 1
    # the registration did not create the event a second time
    assert len([e for e in sdk.audit.entries() if e.action == "event.created"]) == 1


def test_create_existing(world):
    sdk = world.sdk
    sdk.events.create(world.host, "ev-2", "club_event")
    before = snapshot(sdk)
    with pytest.raises(AlreadyExists):
        sdk.events.create(world.host, "ev-2", "club_event")
    with pytest.raises(EventTypeMismatch):
        sdk.events.create(world.host, "ev-2", "reservation", exist_ok=True)
    assert snapshot(sdk) == before
    again = sdk.events.create(world.host, "ev-2", "club_event", exist_ok=True, title="Quiz night")
    assert again.title == "Quiz night"
    assert sdk.events.get(world.host, "ev-2").title == "Quiz night"


def test_create_refuses_bad_input(world):
    sdk = world.sdk
    before = snapshot(sdk)
    with pytest.raises(UnknownHost):
        sdk.events.create("no-such-host", "ev-3", "club_event")
    for kwargs in (
        {"title": ""},
        {"title": "x" * 201},
        {"title": "a\x00b"},
        {"starts_at": datetime(2027, 1, 1)},  # naive
        {"starts_at": "tomorrow"},
    ):
        with pytest.raises(InvalidInput):
            sdk.events.create(world.host, "ev-3", "club_event", **kwargs)
    with pytest.raises(InvalidInput):
        sdk.events.create(world.host, "ev-3", "wedding")
    assert snapshot(sdk) == before


def test_an_event_outlives_its_registrations(world):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.cancel(world.ana, world.host, "res-1")
    assert sdk.events.attendees(world.host, "res-1") == []
    page = sdk.events.attendees_page(world.host, "res-1")
    assert (page.items, page.next_cursor) == ([], None)
    assert list(sdk.events.iter_attendees(world.host, "res-1")) == []
    # and keeps its type
    with pytest.raises(EventTypeMismatch):
        sdk.events.register(world.bo, world.host, EventType.CLUB_EVENT, "res-1", share={"name"})
    with pytest.raises(UnknownEvent):
        sdk.events.attendees(world.host, "res-never")
    with pytest.raises(UnknownEvent):
        sdk.events.get(world.host, "res-never")
    assert sdk.audit.verify().ok
