"""Text the database cannot store is a 422 ``INVALID_INPUT`` on both backends (issue 13).

PostgreSQL refuses a NUL character in a text column and no driver encodes an unpaired
surrogate; SQLite stores a NUL. The store refuses both on every backend alike, so these
routes answer the same problem everywhere, and change nothing. This module runs the
router tests' world on a SQLite file and on PostgreSQL (the root ``db_url`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from dualid import DualId
from dualid.testing import FakeClock

from .conftest import ANA, BISTRO, World, host_headers, state, user_headers
from .test_host_routes import assert_problem

# JSON escapes, sent as they are (a client cannot UTF-8 encode a lone surrogate), and the
# code of the answer: the SDK refuses the NUL, the request's JSON decoder the surrogate.
BAD = pytest.mark.parametrize(
    ("bad", "code"),
    [("\\u0000", "INVALID_INPUT"), ("\\ud800", "VALIDATION_ERROR")],
    ids=["nul", "surrogate"],
)


def _json(body: dict[str, Any], bad: str) -> dict[str, Any]:
    """``body`` as JSON text with ``<BAD>`` in its strings replaced by the escape ``bad``."""
    text = json.dumps(body).replace("<BAD>", bad)
    return {"content": text, "headers": {"Content-Type": "application/json"}}


@pytest.fixture
def sdk(db_url: str, master_key: str, fake_clock: FakeClock) -> Iterator[DualId]:
    """The router world on each backend (overrides the in-memory SDK of conftest.py)."""
    with DualId.open(db_url, keys=master_key, clock=fake_clock) as opened:
        yield opened


def _headers(extra: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
    return {**request, "headers": {**request["headers"], **extra}}


@BAD
def test_a_grant_purpose_the_database_cannot_store(
    client: TestClient, world: World, bad: str, code: str
) -> None:
    before = state(world.sdk)
    body = {"hostId": BISTRO, "fields": ["email"], "eventId": "res-1", "purpose": "a<BAD>b"}
    resp = client.post("/v1/me/grants", **_headers(user_headers(ANA), _json(body, bad)))
    assert_problem(resp, 422, code)
    assert state(world.sdk) == before


@BAD
def test_a_requirement_purpose_the_database_cannot_store(
    client: TestClient, world: World, bad: str, code: str
) -> None:
    before = state(world.sdk)
    body = {"required": ["name"], "optional": [], "purpose": "booking<BAD>"}
    resp = client.put(
        "/v1/hosts/me/requirements/reservation",
        **_headers(host_headers(BISTRO), _json(body, bad)),
    )
    assert_problem(resp, 422, code)
    assert state(world.sdk) == before


@BAD
def test_a_registration_purpose_the_database_cannot_store(
    client: TestClient, world: World, bad: str, code: str
) -> None:
    before = state(world.sdk)
    body = {
        "hostId": BISTRO,
        "eventType": "reservation",
        "eventId": "res-2",
        "share": ["name", "phoneNumber"],
        "data": {"name": "Dan", "phoneNumber": "+14155552671"},
        "purpose": "booking<BAD>",
    }
    resp = client.post(
        "/v1/me/registrations", **_headers(user_headers("user-dan"), _json(body, bad))
    )
    assert_problem(resp, 422, code)
    assert state(world.sdk) == before


@pytest.mark.parametrize(
    "grant_id",
    ["gr_%00", "gr_x%00y"],
)
def test_a_grant_id_the_database_cannot_store(
    client: TestClient, world: World, grant_id: str
) -> None:
    before = state(world.sdk)
    for path in (f"/v1/me/grants/{grant_id}", f"/v1/me/grants/{grant_id}/receipt"):
        resp = client.request(
            "DELETE" if path.endswith(grant_id) else "GET", path, headers=user_headers(ANA)
        )
        assert_problem(resp, 422, "INVALID_INPUT")
    assert state(world.sdk) == before
