"""Fixtures for the page tests: a real in-memory SDK on a FakeClock, the pages mounted
under /privacy with header authentication (X-User-Id), and a small populated world."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.crypto import LocalKeyProvider
from dualid.testing import FakeClock
from dualid.ui import consent_pages
from tests.fastapi.conftest import TestClient, header_user

BISTRO = "bistro-7"
CLUB = "club-9"
ANA = "user-ana"
BEN = "user-ben"
ANA_PROFILE = EventUserData(name="Ana Lima", phone_number="+14155552671")
REGISTER = f"/privacy/hosts/{BISTRO}/events/res-1/register?type=reservation"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(sdk: DualId, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(
        consent_pages(sdk, authenticate_user=header_user, **kwargs), prefix="/privacy"
    )
    return app


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sdk(fake_clock: FakeClock) -> Iterator[DualId]:
    with DualId.open("sqlite://", keys=LocalKeyProvider.ephemeral(), clock=fake_clock) as opened:
        yield opened


@pytest.fixture
def world(sdk: DualId) -> DualId:
    """The bistro (reservations: name and phone required, email and birthday optional)
    and the club (club events: name required, email optional); Ana has a profile with
    name and phone, Ben nothing at all."""
    sdk.hosts.register(BISTRO, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.register(CLUB, kind=HostKind.CLUB, name="Chess Club")
    sdk.hosts.require(
        BISTRO,
        EventType.RESERVATION,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL, DataField.BIRTHDAY},
        purpose="table booking",
    )
    sdk.hosts.require(
        CLUB,
        EventType.CLUB_EVENT,
        required={DataField.NAME},
        optional={DataField.EMAIL},
        purpose="the attendee list",
    )
    sdk.profiles.put(sdk.identity.agent_for(ANA), ANA_PROFILE)
    return sdk


@pytest.fixture
def app(world: DualId) -> FastAPI:
    return make_app(world)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"X-User-Id": ANA}) as test_client:
        yield test_client
