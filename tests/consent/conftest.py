"""Fixtures for the consent tests: a host with requirements and two people."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind

ANA = EventUserData(
    name="Ana Lima",
    phone_number="+14155552671",
    email="ana.lima@example.com",
    birthday="1990-04-02",
    company_affiliation="Acme Labs",
)
BO = EventUserData(name="Bo Berg", phone_number="+442079460958", email="bo.berg@example.org")


@dataclass
class World:
    sdk: DualId
    ana: str
    bo: str
    host: str = "bistro-7"
    other_host: str = "club-9"


def setup_world(sdk: DualId) -> World:
    ana = sdk.identity.agent_for("user-ana")
    bo = sdk.identity.agent_for("user-bo")
    sdk.profiles.put(ana, ANA)
    sdk.profiles.put(bo, BO)
    sdk.hosts.register("bistro-7", kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.require(
        "bistro-7",
        EventType.RESERVATION,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL},
        purpose="table booking",
    )
    sdk.hosts.register("club-9", kind=HostKind.CLUB, name="Club Nine")
    sdk.hosts.require(
        "club-9",
        EventType.CLUB_EVENT,
        required={DataField.NAME},
        optional={DataField.EMAIL, DataField.BIRTHDAY},
        purpose="member night",
    )
    return World(sdk, ana, bo)


@pytest.fixture
def world(sdk: DualId) -> World:
    """Both backends (SQLite file, PostgreSQL)."""
    return setup_world(sdk)


@pytest.fixture
def mworld(memory_sdk: DualId) -> World:
    """In-memory SQLite only: for tests that don't depend on the backend."""
    return setup_world(memory_sdk)
