from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from dualid import DataField, EventType, EventUserData
from dualid.testing import Person, add_person, build_people, build_user_data, memory_sdk


def test_a_full_realistic_profile() -> None:
    data = build_user_data(seed=1)
    assert data.personal_fields() == set(DataField)
    assert data.name
    assert " " in data.name
    assert data.phone_number is not None
    assert data.phone_number.startswith("+")
    assert data.email is not None
    assert data.email.rpartition("@")[2].startswith("example.")
    assert data.birthday is not None
    assert date(1950, 1, 1) <= data.birthday <= date(2005, 12, 31)
    assert data.event_type is None
    assert data.shared_with_host is None


def test_seeded_is_reproducible_and_unseeded_varies() -> None:
    assert build_user_data(seed=42) == build_user_data(seed=42)
    assert build_user_data(seed=1) != build_user_data(seed=2)
    assert len({build_user_data().email for _ in range(20)}) > 1


def test_fields_and_overrides() -> None:
    data = build_user_data(seed=3, fields={DataField.NAME, "phoneNumber"}, email="a@example.org")
    assert data.personal_fields() == {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL}
    assert data.email == "a@example.org"
    assert build_user_data(seed=3, fields=()).personal_fields() == set()
    assert build_user_data(seed=3, fields="email").personal_fields() == {DataField.EMAIL}


def test_overrides_are_validated() -> None:
    assert build_user_data(seed=1, phone_number="+1 415 555 2671").phone_number == "+14155552671"
    with pytest.raises(ValidationError):
        build_user_data(seed=1, email="not an email")
    with pytest.raises(ValidationError):
        build_user_data(seed=1, favourite_colour="blue")


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        (EventType.RESERVATION, "partySize"),
        (EventType.COMMUNITY_EVENT, "tshirtSize"),
        (EventType.CLUB_EVENT, "memberNumber"),
        (EventType.EXPERT_EVENT, "experienceLevel"),
        (EventType.BUSINESS_EVENT, "jobTitle"),
        (EventType.COMPANY_EVENT, "department"),
        (None, "preferredLanguage"),
    ],
)
def test_extras_follow_the_event_type(kind: EventType | None, key: str) -> None:
    data = build_user_data(seed=5, extras_for=kind)
    assert data.additional_data is not None
    assert key in data.additional_data


def test_extras_for_accepts_the_string_value() -> None:
    data = build_user_data(seed=5, extras_for="reservation")
    assert data.additional_data is not None
    assert "partySize" in data.additional_data


def test_many_valid_profiles() -> None:
    # Every generated phone number and email passes the model's validators.
    for seed in range(300):
        data = build_user_data(seed=seed)
        assert EventUserData.model_validate(data.model_dump()) == data


def test_build_people_are_distinct_and_reproducible() -> None:
    people = build_people(200, seed=9)
    assert len(people) == 200
    assert len({p.email for p in people}) == 200
    assert len({p.phone_number for p in people}) == 200
    assert build_people(5, seed=9) == people[:5]
    assert build_people(0) == []
    with pytest.raises(ValueError):
        build_people(-1)


def test_build_people_fields() -> None:
    people = build_people(3, fields={DataField.NAME}, extras_for=EventType.CLUB_EVENT)
    assert all(p.personal_fields() == {DataField.NAME} for p in people)


def test_add_person_stores_a_profile() -> None:
    with memory_sdk() as sdk:
        ana = add_person(sdk, "user-ana", seed=11)
        assert isinstance(ana, Person)
        assert ana.user_id == "user-ana"
        assert sdk.identity.agent_for("user-ana") == ana.agent_id
        assert sdk.profiles.get(ana.agent_id) == ana.data == build_user_data(seed=11)

        given = EventUserData(name="Bo")
        bo = add_person(sdk, data=given)
        assert bo.user_id.startswith("user-")
        assert bo.agent_id != ana.agent_id
        assert sdk.profiles.get(bo.agent_id) == given


def test_profiles_round_trip_through_the_sdk() -> None:
    with memory_sdk() as sdk:
        for i, data in enumerate(build_people(30, seed=4, extras_for=EventType.RESERVATION)):
            agent_id = sdk.identity.agent_for(f"u{i}")
            sdk.profiles.put(agent_id, data)
            assert sdk.profiles.get(agent_id) == data
