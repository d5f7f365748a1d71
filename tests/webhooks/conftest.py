"""Fixtures of the webhook tests: a real receiver on 127.0.0.1 and a world whose host has
its endpoint there (SQLite file and PostgreSQL), on a FakeClock that starts at the real
time, so that the independent ``standardwebhooks`` verifier accepts the timestamps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.testing import FakeClock
from dualid.webhooks import WebhookEndpoint

from ._receiver import Receiver, serving

HOST = "bistro-7"
RES = EventType.RESERVATION
NAME, EMAIL, PHONE = DataField.NAME, DataField.EMAIL, DataField.PHONE_NUMBER
ANA = {"name": "Ana Lima", "email": "ana.lima@example.org", "phone_number": "+14155552671"}


@dataclass
class World:
    sdk: DualId
    clock: FakeClock
    receiver: Receiver
    endpoint: WebhookEndpoint
    ana: str

    @property
    def secret(self) -> str:
        assert self.endpoint.secret is not None
        return self.endpoint.secret


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as running:
        yield running


@pytest.fixture
def real_clock() -> FakeClock:
    return FakeClock(start=datetime.now(UTC))


def open_world(url: str, key: str, clock: FakeClock, receiver: Receiver) -> World:
    sdk = DualId.open(url, keys=key, clock=clock, webhooks_allow_private=True)
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.require(HOST, RES, required={NAME}, optional={EMAIL, PHONE}, purpose="booking")
    endpoint = sdk.hosts.set_webhook(HOST, receiver.url)
    ana = sdk.identity.agent_for("user-ana")
    sdk.profiles.put(ana, EventUserData(**ANA))
    return World(sdk, clock, receiver, endpoint, ana)


@pytest.fixture
def world(
    db_url: str, master_key: str, real_clock: FakeClock, receiver: Receiver
) -> Iterator[World]:
    opened = open_world(db_url, master_key, real_clock, receiver)
    try:
        yield opened
    finally:
        opened.sdk.close()
