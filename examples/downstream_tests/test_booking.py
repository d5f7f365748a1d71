"""A downstream project's tests: dualid's pytest plugin provides ``dualid_sdk`` and
``dualid_clock`` (and ``ntp_server``) with no conftest.py and no set-up code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from booking import ClubNights

from dualid import ConsentRequired, EventUserData
from dualid.clock import ClockStatus
from dualid.testing import add_person, build_user_data

NIGHT = "night-2026-05-01"


@pytest.fixture
def club(dualid_sdk):
    nights = ClubNights(dualid_sdk)
    nights.open_for_bookings()
    return nights


def test_door_list_shows_only_what_guests_shared(club, dualid_sdk):
    add_person(dualid_sdk, "user-ana", data=EventUserData(name="Ana", phone_number="+14155552671"))
    add_person(dualid_sdk, "user-bo", data=EventUserData(name="Bo", phone_number="+447400123456"))
    club.book("user-ana", NIGHT, share_phone=True)
    club.book("user-bo", NIGHT)
    assert club.door_list(NIGHT) == [("Ana", "+14155552671"), ("Bo", None)]


def test_a_guest_without_a_name_cannot_book(club, dualid_sdk):
    add_person(dualid_sdk, "user-x", data=build_user_data(seed=1, fields={"email"}))
    with pytest.raises(ConsentRequired):
        club.book("user-x", NIGHT)


@pytest.mark.dualid_clock(start=datetime(2026, 4, 30, 18, 0, tzinfo=UTC))
def test_a_time_limited_phone_grant_expires(club, dualid_sdk, dualid_clock):
    guest = add_person(dualid_sdk, "user-cy", seed=7)
    agent_id = club.book("user-cy", NIGHT)
    club.share_phone_until(agent_id, NIGHT, until=datetime(2026, 5, 2, tzinfo=UTC))
    assert club.door_list(NIGHT) == [(guest.data.name, guest.data.phone_number)]

    dualid_clock.advance(timedelta(days=2))  # no sleeping: the fake clock moves
    assert club.door_list(NIGHT) == [(guest.data.name, None)]


@pytest.mark.dualid_clock(start=datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
def test_recent_bookings_by_the_sdk_clock(club, dualid_sdk, dualid_clock):
    add_person(dualid_sdk, "user-1", seed=1)
    club.book("user-1", NIGHT)
    dualid_clock.advance(hours=30)
    add_person(dualid_sdk, "user-2", seed=2)
    club.book("user-2", NIGHT)
    assert club.booked_within(NIGHT, timedelta(days=1)) == 1


def test_bookings_keep_working_offline(club, dualid_sdk, dualid_clock):
    add_person(dualid_sdk, "user-1", seed=1)
    with dualid_clock.offline():
        dualid_clock.advance(hours=2)
        assert dualid_clock.now().status is ClockStatus.HOLDOVER
        club.book("user-1", NIGHT)
    assert len(club.door_list(NIGHT)) == 1
