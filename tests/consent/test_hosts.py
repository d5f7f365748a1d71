from __future__ import annotations

import pytest

from dualid import DataField, EventType, HostKind
from dualid.errors import AlreadyExists, InvalidInput, UnknownHost

from ..support import snapshot


def test_register_and_get(memory_sdk):
    host = memory_sdk.hosts.register("bistro-7", kind=HostKind.BUSINESS, name="Bistro Seven")
    assert host.host_id == "bistro-7"
    assert host.kind is HostKind.BUSINESS
    assert memory_sdk.hosts.get("bistro-7") == host
    assert [h.host_id for h in memory_sdk.hosts.list()] == ["bistro-7"]


def test_register_twice_is_a_conflict_unless_exist_ok(memory_sdk):
    memory_sdk.hosts.register("bistro-7", kind="business", name="Bistro Seven")
    before = snapshot(memory_sdk)
    with pytest.raises(AlreadyExists):
        memory_sdk.hosts.register("bistro-7", kind="business", name="Other")
    assert snapshot(memory_sdk) == before
    renamed = memory_sdk.hosts.register("bistro-7", kind="club", name="Renamed", exist_ok=True)
    assert renamed.name == "Renamed"
    assert renamed.kind is HostKind.CLUB


@pytest.mark.parametrize(
    ("host_id", "kind", "name"),
    [
        ("", "business", "x"),
        ("has space", "business", "x"),
        ("x" * 65, "business", "x"),
        ("ok", "restaurant-chain", "x"),
        ("ok", "business", ""),
        ("ok", "business", "n" * 201),
    ],
)
def test_register_rejects_bad_input(memory_sdk, host_id, kind, name):
    before = snapshot(memory_sdk)
    with pytest.raises(InvalidInput):
        memory_sdk.hosts.register(host_id, kind=kind, name=name)
    assert snapshot(memory_sdk) == before


def test_require_declares_and_replaces(memory_sdk):
    memory_sdk.hosts.register("h1", kind=HostKind.EXPERT, name="Dr. Who")
    req = memory_sdk.hosts.require(
        "h1",
        EventType.EXPERT_EVENT,
        required={"name", DataField.EMAIL},
        optional={"phoneNumber", "email"},
        purpose="consultation",
    )
    assert req.required == {DataField.NAME, DataField.EMAIL}
    # a field both required and optional counts as required
    assert req.optional == {DataField.PHONE_NUMBER}
    replaced = memory_sdk.hosts.require(
        "h1", "expert_event", required={"name"}, purpose="consultation v2"
    )
    assert replaced.declared == {DataField.NAME}
    assert memory_sdk.hosts.requirement("h1", EventType.EXPERT_EVENT) == replaced
    assert memory_sdk.hosts.requirement("h1", EventType.RESERVATION) is None


def test_require_errors(memory_sdk):
    memory_sdk.hosts.register("h1", kind=HostKind.EXPERT, name="Dr. Who")
    before = snapshot(memory_sdk)
    with pytest.raises(UnknownHost):
        memory_sdk.hosts.require("nope", EventType.RESERVATION, required={"name"}, purpose="x")
    with pytest.raises(InvalidInput):
        memory_sdk.hosts.require("h1", "party", required={"name"}, purpose="x")
    with pytest.raises(InvalidInput):
        memory_sdk.hosts.require("h1", EventType.RESERVATION, required={"shoe_size"}, purpose="x")
    with pytest.raises(InvalidInput):
        memory_sdk.hosts.require("h1", EventType.RESERVATION, required="name", purpose="x")
    with pytest.raises(InvalidInput):
        memory_sdk.hosts.require("h1", EventType.RESERVATION, required={"name"}, purpose=" ")
    assert snapshot(memory_sdk) == before
