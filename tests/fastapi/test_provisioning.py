"""P9 as a property of the person's router: a request from a person dualid has never seen
provisions nothing (no agent row, no data key, no sealed userId, no audit entry) unless a
write accepts it, on every route.

``NO_TRACE`` lists, for every route of :func:`~dualid.fastapi.user_router`, requests a
brand-new person may send that must leave the database exactly as it was: refused ones
on the routes that write (each way the SDK or the router can refuse), and ordinary ones on
the routes that cannot create a person. ``ACCEPTED`` holds one accepted first request per
route that can create a person, which must provision them. A new route fails
:func:`test_every_route_is_listed` until it is added to both tables as it should be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from dualid import DualId
from dualid.fastapi import user_router
from tests.support import rows

from .conftest import BISTRO, CLUB, World, agent_ids, header_user, state
from .conftest import user_headers as uh
from .test_host_routes import assert_problem

NEW = "user-new"  # never seen by the world fixture
NEW_H = uh(NEW)
PAST = "2025-12-31T00:00:00Z"  # before the FakeClock's start
REG = {"hostId": BISTRO, "eventType": "reservation", "eventId": "res-9"}
REG_SHARE = ["name", "phoneNumber"]
REG_DATA = {"name": "Neu", "phoneNumber": "+14155550199"}
GRANT = {"hostId": BISTRO, "fields": ["email"], "purpose": "newsletter"}


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # under the /v1 prefix
    body: Any = None
    status: int = 200
    code: str | None = None  # the problem code of a refusal

    def send(self, client: TestClient) -> Any:
        resp = client.request(self.method, "/v1" + self.path, headers=NEW_H, json=self.body)
        if self.code is not None:
            assert_problem(resp, self.status, self.code)
        else:
            assert resp.status_code == self.status, resp.text
        return resp


Route = tuple[str, str]  # (method, path template), as the router declares it

NO_TRACE: dict[Route, list[Call]] = {
    ("GET", "/me/profile"): [Call("GET", "/me/profile")],
    ("PUT", "/me/profile"): [
        Call("PUT", "/me/profile", {"birthday": "2999-01-01"}, 422, "INVALID_FIELD"),
        Call("PUT", "/me/profile", {"phoneNumber": "12"}, 422, "INVALID_FIELD"),
        Call("PUT", "/me/profile", {"nickname": "x"}, 422, "VALIDATION_ERROR"),
    ],
    ("GET", "/me/sharing"): [Call("GET", "/me/sharing")],
    ("POST", "/me/registrations"): [
        Call("POST", "/me/registrations", {**REG, "hostId": "ghost"}, 404, "UNKNOWN_HOST"),
        Call("POST", "/me/registrations", {**REG, "share": ["name"]}, 422, "CONSENT_REQUIRED"),
        Call("POST", "/me/registrations", {**REG, "eventType": "x"}, 422, "VALIDATION_ERROR"),
        Call(
            "POST",
            "/me/registrations",
            {**REG, "share": [*REG_SHARE, "birthday"], "data": REG_DATA},
            422,
            "FIELD_NOT_REQUESTED",
        ),
        Call(
            "POST",
            "/me/registrations",
            {**REG, "share": REG_SHARE, "data": {**REG_DATA, "birthday": "2999-01-01"}},
            422,
            "INVALID_FIELD",
        ),
        Call(
            "POST",
            "/me/registrations",
            {**REG, "share": REG_SHARE, "data": REG_DATA, "expiresAt": PAST},
            422,
            "INVALID_EXPIRY",
        ),
        Call(  # res-1 is a reservation
            "POST",
            "/me/registrations",
            {**REG, "eventId": "res-1", "eventType": "club_event", "share": []},
            409,
            "EVENT_TYPE_MISMATCH",
        ),
    ],
    ("GET", "/me/registrations"): [Call("GET", "/me/registrations")],
    ("DELETE", "/me/registrations/{registration_id}"): [
        Call("DELETE", "/me/registrations/reg_x", None, 404, "UNKNOWN_REGISTRATION")
    ],
    ("GET", "/me/registrations/{registration_id}/explain"): [
        Call("GET", "/me/registrations/reg_x/explain", None, 404, "UNKNOWN_REGISTRATION")
    ],
    ("POST", "/me/grants"): [
        Call(
            "POST",
            "/me/grants",
            {**GRANT, "fields": ["companyAffiliation"]},
            422,
            "FIELD_NOT_REQUESTED",
        ),
        Call(  # the bistro has no requirement for club events
            "POST",
            "/me/grants",
            {**GRANT, "fields": ["name"], "eventType": "club_event"},
            422,
            "FIELD_NOT_REQUESTED",
        ),
        Call("POST", "/me/grants", {**GRANT, "expiresAt": PAST}, 422, "INVALID_EXPIRY"),
        Call("POST", "/me/grants", {**GRANT, "eventId": "res-1"}, 404, "UNKNOWN_REGISTRATION"),
        Call("POST", "/me/grants", {**GRANT, "hostId": "ghost"}, 404, "UNKNOWN_HOST"),
        Call("POST", "/me/grants", {**GRANT, "fields": []}, 422, "VALIDATION_ERROR"),
    ],
    ("DELETE", "/me/grants/{grant_id}"): [
        Call("DELETE", "/me/grants/gr_x", None, 404, "UNKNOWN_GRANT")
    ],
    ("GET", "/me/grants/{grant_id}/receipt"): [
        Call("GET", "/me/grants/gr_x/receipt", None, 404, "UNKNOWN_GRANT")
    ],
    ("DELETE", "/me/hosts/{host_id}/grants"): [
        Call("DELETE", f"/me/hosts/{BISTRO}/grants"),
        Call("DELETE", "/me/hosts/ghost/grants", None, 404, "UNKNOWN_HOST"),
    ],
    ("DELETE", "/me/hosts/{host_id}/events/{event_id}/grants"): [
        Call("DELETE", f"/me/hosts/{BISTRO}/events/res-1/grants", None, 404, "UNKNOWN_REGISTRATION")
    ],
    ("GET", "/me/defaults"): [Call("GET", "/me/defaults")],
    ("PUT", "/me/defaults/{event_type}"): [
        Call(
            "PUT",
            "/me/defaults/reservation",
            {"fields": ["name"], "hostId": "ghost"},
            404,
            "UNKNOWN_HOST",
        ),
        Call("PUT", "/me/defaults/reservation", {"fields": ["shoeSize"]}, 422, "VALIDATION_ERROR"),
        Call("PUT", "/me/defaults/gala", {"fields": ["name"]}, 422, "VALIDATION_ERROR"),
    ],
    ("GET", "/me/history"): [Call("GET", "/me/history")],
    ("GET", "/me/export"): [Call("GET", "/me/export")],
    ("DELETE", "/me"): [Call("DELETE", "/me", status=204)],
}

ACCEPTED: dict[Route, Call] = {
    ("PUT", "/me/profile"): Call("PUT", "/me/profile", {"name": "Neu"}),
    ("POST", "/me/registrations"): Call(
        "POST", "/me/registrations", {**REG, "share": REG_SHARE, "data": REG_DATA}, 201
    ),
    ("POST", "/me/grants"): Call("POST", "/me/grants", GRANT, 201),
    ("PUT", "/me/defaults/{event_type}"): Call(
        "PUT", "/me/defaults/club_event", {"fields": ["name"], "hostId": CLUB}
    ),
}


def _routes(sdk: DualId) -> set[Route]:
    router = user_router(sdk, authenticate_user=header_user)
    return {
        (method, route.path)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


def test_every_route_is_listed(sdk: DualId) -> None:
    assert set(NO_TRACE) == _routes(sdk)
    # Every route that writes for the person can be their first request; DELETEs only
    # ever remove what exists.
    assert set(ACCEPTED) == {r for r in NO_TRACE if r[0] in ("PUT", "POST")}


@pytest.mark.parametrize("route", sorted(NO_TRACE), ids=" ".join)
def test_a_new_persons_refused_request_provisions_nothing(
    client: TestClient, world: World, route: Route
) -> None:
    sdk = world.sdk
    agents = agent_ids(sdk)
    before = state(sdk)
    for call in NO_TRACE[route]:
        call.send(client)
        assert state(sdk) == before, call
    assert agent_ids(sdk) == agents
    assert sdk.identity.lookup(NEW) is None


@pytest.mark.parametrize("route", sorted(ACCEPTED), ids=" ".join)
def test_a_new_persons_accepted_write_provisions_them(
    client: TestClient, world: World, route: Route
) -> None:
    sdk = world.sdk
    for call in NO_TRACE[route]:  # refused first: they leave nothing behind
        call.send(client)
    assert sdk.identity.lookup(NEW) is None
    ACCEPTED[route].send(client)
    agent = sdk.identity.lookup(NEW)
    assert agent is not None
    assert rows(sdk, "SELECT agent_id FROM dualid_agent_key WHERE agent_id = :a", a=agent)
    assert sdk.identity.user_for(agent, actor="test", reason="provisioning") == NEW
    actions = [e.action for e in sdk.consent.history(agent)]
    assert actions[0] == "agent.created"
    assert actions.count("agent.created") == 1
    if route[0] == "PUT":  # the person's next write finds the same agent
        ACCEPTED[route].send(client)
        assert sdk.identity.lookup(NEW) == agent
    assert sdk.audit.verify().ok
