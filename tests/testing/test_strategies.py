from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.testing import memory_sdk
from dualid.testing import strategies as ds

_serial = itertools.count()


@pytest.fixture(scope="module")
def sdk() -> Iterator[DualId]:
    with memory_sdk() as sdk:
        yield sdk


@given(ds.user_data())
def test_user_data_is_valid_and_json_round_trips(data: EventUserData) -> None:
    again = EventUserData.model_validate_json(data.model_dump_json(by_alias=True))
    assert again == data


@settings(
    max_examples=50,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=ds.user_data())
def test_user_data_round_trips_through_the_sdk(sdk: DualId, data: EventUserData) -> None:
    agent_id = sdk.identity.agent_for(f"user-{next(_serial)}")
    sdk.profiles.put(agent_id, data)
    # A profile with no personal field is no profile.
    assert sdk.profiles.get(agent_id) == (data if data.personal_fields() else None)


@given(ds.user_data(fields={DataField.NAME}, require={DataField.EMAIL}))
def test_fields_and_require(data: EventUserData) -> None:
    assert DataField.EMAIL in data.personal_fields()
    assert data.personal_fields() <= {DataField.NAME, DataField.EMAIL}


@given(ds.user_data(require=DataField))
def test_require_everything(data: EventUserData) -> None:
    assert data.personal_fields() == set(DataField)


@settings(
    max_examples=30,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    host_id=ds.host_ids(),
    kind=ds.host_kinds(),
    event_type=ds.event_types(),
    event_id=ds.event_ids(),
    user_id=ds.user_ids(),
    shared=ds.field_sets(),
)
def test_ids_are_accepted_by_the_sdk(
    sdk: DualId,
    host_id: str,
    kind: HostKind,
    event_type: EventType,
    event_id: str,
    user_id: str,
    shared: frozenset[DataField],
) -> None:
    sdk.hosts.register(host_id, kind=kind, name="Host", exist_ok=True)
    sdk.hosts.require(host_id, event_type, optional=set(DataField), purpose="testing")
    agent_id = sdk.identity.agent_for(f"{user_id}-{next(_serial)}")
    sdk.profiles.put(agent_id, EventUserData(name="Ana", email="ana@example.com"))
    reg = sdk.events.register(agent_id, host_id, event_type, event_id, share=shared)
    assert reg.shared == shared


@given(st.data())
def test_scalar_strategies(data: st.DataObject) -> None:
    assert isinstance(data.draw(ds.data_fields()), DataField)
    assert EventUserData(phone_number=data.draw(ds.phone_numbers())).phone_number
    assert EventUserData(email=data.draw(ds.emails())).email
    assert EventUserData(name=data.draw(ds.names())).name
    assert EventUserData(birthday=data.draw(ds.birthdays())).birthday
    assert len(data.draw(ds.field_sets(min_size=2))) >= 2
