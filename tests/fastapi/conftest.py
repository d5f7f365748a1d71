"""Fixtures for the router tests: a real in-memory SDK on a FakeClock, a test app that
authenticates by header (X-Host-Id / X-User-Id), and a small populated world."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Header, HTTPException
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x wants httpx2 for its TestClient and warns that httpx is deprecated
    # there; httpx is what dualid[fastapi] installs, and it works.
    warnings.filterwarnings("ignore", "Using `httpx`", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.crypto import LocalKeyProvider
from dualid.fastapi import host_router, install_error_handlers, user_router
from dualid.testing import FakeClock

BISTRO = "bistro-7"
CLUB = "club-9"
ANA = "user-ana"
BEN = "user-ben"
CARA = "user-cara"

ANA_PROFILE = EventUserData(
    name="Ana Lima",
    phone_number="+14155552671",
    email="ana@example.org",
    birthday="1990-04-02",
    company_affiliation="Acme",
    additional_data={"diet": "vegetarian"},
)
BEN_PROFILE = EventUserData(
    name="Ben Okafor", phone_number="+442079460958", email="ben@example.org"
)


def host_headers(host_id: str) -> dict[str, str]:
    return {"X-Host-Id": host_id}


def user_headers(user_id: str) -> dict[str, str]:
    return {"X-User-Id": user_id}


def header_host(x_host_id: Annotated[str | None, Header()] = None) -> str:
    if not x_host_id:
        raise HTTPException(401, "missing X-Host-Id", headers={"WWW-Authenticate": "X-Host-Id"})
    return x_host_id


def header_user(x_user_id: Annotated[str | None, Header()] = None) -> str:
    if not x_user_id:
        raise HTTPException(401, "missing X-User-Id", headers={"WWW-Authenticate": "X-User-Id"})
    return x_user_id


def make_app(sdk: DualId, *, handlers: bool = False, **router_kwargs: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(
        host_router(sdk, authenticate_host=header_host, **router_kwargs), prefix="/v1"
    )
    app.include_router(
        user_router(sdk, authenticate_user=header_user, **router_kwargs), prefix="/v1"
    )
    if handlers:
        install_error_handlers(app)
    return app


def state(sdk: DualId) -> dict[str, Any]:
    """Row counts of every dualid table and the audit head: equal before and after a
    request that must change nothing."""
    with sdk.store.engine.connect() as conn:
        names = sorted(n for n in sa.inspect(conn).get_table_names() if n.startswith("dualid_"))
        out: dict[str, Any] = {
            n: conn.execute(sa.text(f"SELECT count(*) FROM {n}")).scalar_one() for n in names
        }
        out["audit_head"] = tuple(
            conn.execute(
                sa.text("SELECT id, pseq, seq, entry_hash FROM dualid_audit_head ORDER BY id")
            ).all()
        )
        out["sealed"] = sorted(
            bytes(r[0])
            for table in ("dualid_sealed", "dualid_shared")
            for r in conn.execute(sa.text(f"SELECT ciphertext FROM {table}"))
        )
    return out


def agent_ids(sdk: DualId) -> set[str]:
    with sdk.store.engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT agent_id FROM dualid_agent")).scalars())


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sdk(fake_clock: FakeClock) -> Iterator[DualId]:
    with DualId.open("sqlite://", keys=LocalKeyProvider.ephemeral(), clock=fake_clock) as opened:
        yield opened


@pytest.fixture
def app(sdk: DualId) -> FastAPI:
    return make_app(sdk)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class World:
    sdk: DualId
    ana: str
    ben: str
    ana_grant: str
    ben_grant: str


@pytest.fixture
def world(sdk: DualId) -> World:
    """Two hosts with requirements; Ana and Ben registered at the bistro's res-1, Ana
    also at the club's meet-1."""
    sdk.hosts.register(BISTRO, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.register(CLUB, kind=HostKind.CLUB, name="Chess Club")
    sdk.hosts.require(
        BISTRO,
        EventType.RESERVATION,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL, DataField.ADDITIONAL_DATA},
        purpose="table booking",
    )
    sdk.hosts.require(
        CLUB,
        EventType.CLUB_EVENT,
        required={DataField.NAME},
        optional={DataField.EMAIL, DataField.BIRTHDAY},
        purpose="club night",
    )
    ana = sdk.identity.agent_for(ANA)
    ben = sdk.identity.agent_for(BEN)
    sdk.profiles.put(ana, ANA_PROFILE)
    sdk.profiles.put(ben, BEN_PROFILE)
    r1 = sdk.events.register(
        ana, BISTRO, EventType.RESERVATION, "res-1", share={"name", "phone_number", "email"}
    )
    r2 = sdk.events.register(
        ben, BISTRO, EventType.RESERVATION, "res-1", share={"name", "phone_number"}
    )
    sdk.events.register(ana, CLUB, EventType.CLUB_EVENT, "meet-1", share={"name", "birthday"})
    assert r1.grant_id
    assert r2.grant_id
    return World(sdk, ana, ben, r1.grant_id, r2.grant_id)
