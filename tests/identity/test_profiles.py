"""Profiles: put/get/update/delete of one encrypted EventUserData per person."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dualid import DualId, EventUserData
from dualid.errors import InvalidField, InvalidInput, UnknownAgent
from dualid.testing import FakeClock

from ..support import rows, snapshot

FULL = EventUserData(
    name="Ana Lima",
    phone_number="+14155552671",
    email="ana@example.com",
    birthday=date(1990, 5, 17),
    company_affiliation="Acme",
    additional_data={"diet": ["vegan"], "seat": {"row": 3}},
)


def test_put_get_round_trip(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    assert sdk.profiles.get(agent) is None
    sdk.profiles.put(agent, FULL)
    assert sdk.profiles.get(agent) == FULL


def test_one_sealed_row_per_present_field(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.com"))
    fields = rows(
        sdk, "SELECT field FROM dualid_sealed WHERE record_id = :r ORDER BY field", r="p:" + agent
    )
    assert [f[0] for f in fields] == ["email", "name"]


def test_put_replaces_and_clears_missing_fields(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, FULL)
    sdk.profiles.put(agent, EventUserData(name="Ana"))
    assert sdk.profiles.get(agent) == EventUserData(name="Ana")


def test_put_audits_field_names_only(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, FULL)
    entry = sdk.audit.entries()[-1]
    assert entry.action == "profile.updated"
    assert entry.subject == agent
    assert entry.details == {
        "fields": sorted(
            ["name", "phone_number", "email", "birthday", "company_affiliation", "additional_data"]
        )
    }
    assert entry.at == sdk.clock.now().time  # the FakeClock stands still


def test_timestamps_come_from_the_injected_clock(sdk: DualId, clock: FakeClock) -> None:
    clock.set(datetime(2031, 7, 4, 9, 30, tzinfo=UTC))
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, EventUserData(name="Ana"))
    assert {e.at for e in sdk.audit.entries()} == {datetime(2031, 7, 4, 9, 30, tzinfo=UTC)}
    stamps = rows(sdk, "SELECT sealed_at FROM dualid_sealed")
    expected = int(datetime(2031, 7, 4, 9, 30, tzinfo=UTC).timestamp() * 1_000_000)
    assert {r[0] for r in stamps} == {expected}


def test_update_merges_and_validates(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.com"))
    updated = sdk.profiles.update(agent, phone_number="+1 415 555 2671", email=None)
    assert updated == EventUserData(name="Ana", phone_number="+14155552671")
    assert sdk.profiles.get(agent) == updated


def test_update_with_bad_value_changes_nothing(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, FULL)
    before = snapshot(sdk)
    with pytest.raises(InvalidField) as info:
        sdk.profiles.update(agent, phone_number="555-not-a-phone", email="nope")
    assert info.value.details["fields"] == ["email", "phone_number"]
    assert "555-not-a-phone" not in str(info.value)
    assert snapshot(sdk) == before
    assert sdk.profiles.get(agent) == FULL


def test_delete_removes_fields_but_keeps_the_agent(sdk: DualId) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.profiles.put(agent, FULL)
    sdk.profiles.delete(agent)
    assert sdk.audit.entries()[-1].details == {"rows": 6}
    assert sdk.profiles.get(agent) is None
    assert sdk.identity.agent_for("user-1") == agent
    assert sdk.identity.user_for(agent, actor="a", reason="b") == "user-1"


def test_profiles_of_different_agents_are_independent(sdk: DualId) -> None:
    a = sdk.identity.agent_for("user-a")
    b = sdk.identity.agent_for("user-b")
    sdk.profiles.put(a, EventUserData(name="Ana"))
    sdk.profiles.put(b, EventUserData(name="Bea"))
    assert sdk.profiles.get(a) == EventUserData(name="Ana")
    assert sdk.profiles.get(b) == EventUserData(name="Bea")


def test_birthday_in_the_future_per_the_sdk_clock(sdk: DualId, clock: FakeClock) -> None:
    agent = sdk.identity.agent_for("user-1")
    today = clock.now().time.date()
    sdk.profiles.put(agent, EventUserData(birthday=today))  # today is fine
    before = snapshot(sdk)
    with pytest.raises(InvalidField, match="future"):
        sdk.profiles.put(agent, EventUserData(birthday=today + timedelta(days=30)))
    assert snapshot(sdk) == before
    # The SDK's clock decides, not the machine's: move it forward and the date is past.
    clock.advance(timedelta(days=31))
    sdk.profiles.put(agent, EventUserData(birthday=today + timedelta(days=30)))


def _put(sdk: DualId, data: EventUserData) -> None:
    sdk.profiles.put(sdk.identity.agent_for("user-1"), data)


def _update(sdk: DualId, data: EventUserData) -> None:
    sdk.profiles.update(sdk.identity.agent_for("user-1"), birthday=data.birthday)


def _put_user(sdk: DualId, data: EventUserData) -> None:
    sdk.profiles.put_user("user-1", data)


def _register(sdk: DualId, data: EventUserData) -> None:
    agent = sdk.identity.agent_for("user-1")
    sdk.events.register(agent, "bistro-7", "reservation", "res-1", share={"name"}, data=data)


def _register_user(sdk: DualId, data: EventUserData) -> None:
    sdk.events.register_user(
        "user-1", "bistro-7", "reservation", "res-1", share={"name"}, data=data
    )


# Every way personal data enters the SDK (the HTTP routes: tests/fastapi/test_provisioning.py).
PATHS_WITH_PERSONAL_DATA = [_put, _update, _put_user, _register, _register_user]


@pytest.mark.parametrize("path", PATHS_WITH_PERSONAL_DATA, ids=lambda p: p.__name__[1:])
def test_every_path_refuses_a_future_birthday(sdk: DualId, clock: FakeClock, path) -> None:
    """The model's rules that need the clock hold wherever an EventUserData is accepted,
    not only in profiles.put: a birthday after today (per the SDK's clock) is refused
    and nothing is written, a new person is not provisioned."""
    sdk.hosts.register("bistro-7", kind="business", name="Bistro")
    sdk.hosts.require("bistro-7", "reservation", required={"name"}, purpose="booking")
    sdk.identity.agent_for("user-0")  # so a path that creates the person is not the first
    if path not in (_put_user, _register_user):
        sdk.identity.agent_for("user-1")
    tomorrow = clock.now().latest.date() + timedelta(days=1)
    before = snapshot(sdk)
    with pytest.raises(InvalidField, match="future") as caught:
        path(sdk, EventUserData(name="Ana", birthday=tomorrow))
    assert caught.value.details == {"field": "birthday"}
    assert snapshot(sdk) == before
    # today is fine, per the SDK's clock
    clock.advance(timedelta(days=1))
    path(sdk, EventUserData(name="Ana", birthday=tomorrow))
    agent = sdk.identity.lookup("user-1")
    assert agent is not None
    if path in (_register, _register_user):
        (attendee,) = sdk.events.attendees("bistro-7", "res-1")
        assert attendee.data.name == "Ana"
    else:
        stored = sdk.profiles.get(agent)
        assert stored is not None
        assert stored.birthday == tomorrow


def test_put_user_creates_the_agent_with_the_profile_only(sdk: DualId) -> None:
    before = snapshot(sdk)
    with pytest.raises(InvalidInput):
        sdk.profiles.put_user("user-1", {"name": "Ana"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        sdk.profiles.put_user("", EventUserData(name="Ana"))
    assert snapshot(sdk) == before
    sdk.profiles.put_user("user-1", EventUserData(name="Ana"))
    agent = sdk.identity.lookup("user-1")
    assert agent is not None
    assert sdk.profiles.get(agent) == EventUserData(name="Ana")
    assert [e.action for e in sdk.audit.entries(subject=agent)] == [
        "agent.created",
        "profile.updated",
    ]
    sdk.profiles.put_user("user-1", EventUserData(name="Ana Lima"))  # the same person
    assert sdk.identity.lookup("user-1") == agent
    assert sdk.profiles.get(agent) == EventUserData(name="Ana Lima")


def test_unknown_and_bad_agents(sdk: DualId) -> None:
    with pytest.raises(UnknownAgent):
        sdk.profiles.get("agt_unknown")
    with pytest.raises(UnknownAgent):
        sdk.profiles.put("agt_unknown", EventUserData(name="Ana"))
    with pytest.raises(InvalidInput):
        sdk.profiles.get("user-1")
    with pytest.raises(InvalidInput):
        sdk.profiles.put(sdk.identity.agent_for("u"), {"name": "Ana"})  # type: ignore[arg-type]
