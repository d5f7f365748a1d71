"""Privacy over HTTP: P1 (no agentId ever leaves), and isolation between hosts and persons."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from .conftest import (
    ANA,
    BEN,
    BISTRO,
    CARA,
    CLUB,
    World,
    agent_ids,
    host_headers,
    state,
    user_headers,
)
from .test_host_routes import assert_problem


class Recorder:
    """Calls the app and keeps every response (status line, headers and body)."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world
        self.responses: list[httpx.Response] = []
        self.host_responses: list[httpx.Response] = []
        self.seen_agents: set[str] = set()

    def __call__(
        self, method: str, path: str, *, host: str | None = None, user: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {**(host_headers(host) if host else {}), **(user_headers(user) if user else {})}
        # Collect before the call too: an erasure removes the agent from the table.
        self.seen_agents |= agent_ids(self.world.sdk)
        resp = self.client.request(method, path, headers=headers, **kw)
        self.seen_agents |= agent_ids(self.world.sdk)
        self.responses.append(resp)
        if host:
            self.host_responses.append(resp)
        return resp


def _text(resp: httpx.Response) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in resp.headers.items())
    return f"{resp.status_code}\n{head}\n{resp.text}"


def test_p1_no_agent_id_in_any_response_or_header(client: TestClient, world: World) -> None:
    call = Recorder(client, world)
    reg = {"hostId": BISTRO, "eventType": "reservation", "eventId": "res-3"}
    # Hosts.
    call("GET", "/v1/hosts/me", host=BISTRO)
    call("GET", "/v1/hosts/me", host="ghost")
    call("GET", "/v1/hosts/me/requirements/reservation", host=BISTRO)
    call("GET", "/v1/hosts/me/requirements/company_event", host=BISTRO)
    call(
        "PUT",
        "/v1/hosts/me/requirements/company_event",
        host=BISTRO,
        json={"required": ["name"], "optional": ["companyAffiliation"], "purpose": "offsite"},
    )
    call("PUT", "/v1/hosts/me/requirements/company_event", host=BISTRO, json={"purpose": ""})
    # People.
    for user in (ANA, BEN, CARA):
        call("GET", "/v1/me/profile", user=user)
        call("GET", "/v1/me/sharing", user=user)
        call("GET", "/v1/me/registrations", user=user)
        call("GET", "/v1/me/defaults", user=user)
        call("GET", "/v1/me/history", user=user)
    call("PUT", "/v1/me/profile", user=CARA, json={"name": "Cara", "phoneNumber": "+14155550199"})
    call("PUT", "/v1/me/profile", user=CARA, json={"phoneNumber": "nope"})
    call("PUT", "/v1/me/defaults/reservation", user=CARA, json={"fields": ["name", "phoneNumber"]})
    call("PUT", "/v1/me/defaults/reservation", user=CARA, json={"fields": [], "hostId": CLUB})
    call("POST", "/v1/me/registrations", user=CARA, json=reg)
    call("POST", "/v1/me/registrations", user=CARA, json=reg)  # duplicate
    call("POST", "/v1/me/registrations", user=BEN, json={**reg, "share": ["name"]})  # consent
    call("POST", "/v1/me/registrations", user=BEN, json={**reg, "share": ["birthday"]})
    call(
        "POST",
        "/v1/me/registrations",
        user=BEN,
        json={**reg, "share": ["name", "phoneNumber", "email"]},
    )
    grant = call(
        "POST",
        "/v1/me/grants",
        user=CARA,
        json={"hostId": BISTRO, "fields": ["name"], "purpose": "all visits"},
    ).json()
    call(
        "POST",
        "/v1/me/grants",
        user=CARA,
        json={"hostId": BISTRO, "fields": ["birthday"], "purpose": "p"},
    )
    call("GET", f"/v1/me/grants/{grant['id']}/receipt", user=CARA)
    call("GET", f"/v1/me/grants/{world.ana_grant}/receipt", user=ANA)
    call("GET", f"/v1/me/grants/{world.ana_grant}/receipt", user=BEN)
    call("DELETE", f"/v1/me/grants/{world.ana_grant}", user=BEN)
    call("DELETE", f"/v1/me/grants/{grant['id']}", user=CARA)
    call("DELETE", f"/v1/me/grants/{grant['id']}", user=CARA)
    for event in ("res-1", "res-3", "meet-1", "nope"):
        call("GET", f"/v1/hosts/me/events/{event}/attendees", host=BISTRO)
        call("GET", f"/v1/hosts/me/events/{event}/attendees", host=CLUB)
    call("GET", "/v1/hosts/me/events/res-3/attendees", host=BISTRO, params={"limit": 1})
    call("GET", "/v1/hosts/me/events/res-3/attendees", host=BISTRO, params={"cursor": "%%"})
    call("DELETE", f"/v1/me/hosts/{CLUB}/grants", user=ANA)
    call("DELETE", "/v1/me/hosts/ghost/grants", user=ANA)
    # One registration's routes, the export.
    ana_regs = call("GET", "/v1/me/registrations", user=ANA).json()["items"]
    ben_regs = call("GET", "/v1/me/registrations", user=BEN).json()["items"]
    for reg in (*ana_regs, *ben_regs):
        call("GET", f"/v1/me/registrations/{reg['id']}/explain", user=ANA)
    for user in (ANA, BEN, CARA):
        call("GET", "/v1/me/export", user=user)
    call("DELETE", f"/v1/me/hosts/{BISTRO}/events/res-1/grants", user=ANA)
    call("DELETE", f"/v1/me/hosts/{BISTRO}/events/res-9/grants", user=ANA)
    call("DELETE", f"/v1/me/registrations/{ben_regs[0]['id']}", user=ANA)  # 404
    call("DELETE", f"/v1/me/registrations/{ana_regs[0]['id']}", user=ANA)
    for user in (ANA, BEN, CARA):
        call("GET", "/v1/me/history", user=user)
        call("GET", "/v1/me/sharing", user=user)
        call("GET", "/v1/me/registrations", user=user)
    call("DELETE", "/v1/me", user=BEN)
    call("GET", "/v1/hosts/me/events/res-1/attendees", host=BISTRO)
    call("GET", "/v1/me/history", user=BEN)
    call("GET", "/v1/me/export", user=BEN)
    call("GET", "/v1/me", user=BEN)  # 405
    call("GET", "/v1/me/profile")  # 401

    statuses = {r.status_code for r in call.responses}
    assert {200, 201, 204, 401, 404, 405, 409, 422} <= statuses
    assert all(s < 500 for s in statuses)
    assert len(call.seen_agents) >= 3
    assert world.ana in call.seen_agents
    assert world.ben in call.seen_agents
    for resp in call.responses:
        text = _text(resp)
        assert "agt_" not in text, text
        for agent in call.seen_agents:
            assert agent not in text
    # Hosts never see the platform's userIds either.
    for resp in call.host_responses:
        for user in (ANA, BEN, CARA):
            assert user not in _text(resp)
    assert world.sdk.audit.verify().ok


def test_hosts_are_isolated(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    # The club cannot read the bistro's event, nor learn whether it exists.
    mine = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers(CLUB))
    none = client.get("/v1/hosts/me/events/res-404/attendees", headers=host_headers(CLUB))
    assert assert_problem(mine, 404, "UNKNOWN_EVENT") == assert_problem(none, 404, "UNKNOWN_EVENT")
    # Its own requirements are its own.
    assert_problem(
        client.get("/v1/hosts/me/requirements/reservation", headers=host_headers(CLUB)),
        404,
        "UNKNOWN_REQUIREMENT",
    )
    assert state(world.sdk) == before
    client.put(
        "/v1/hosts/me/requirements/reservation",
        headers=host_headers(CLUB),
        json={"required": ["email"], "purpose": "club dinners"},
    )
    bistro = client.get("/v1/hosts/me/requirements/reservation", headers=host_headers(BISTRO))
    assert bistro.json()["required"] == ["name", "phoneNumber"]


def test_persons_are_isolated(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    ben = user_headers(BEN)
    assert_problem(
        client.delete(f"/v1/me/grants/{world.ana_grant}", headers=ben), 404, "UNKNOWN_GRANT"
    )
    assert_problem(
        client.get(f"/v1/me/grants/{world.ana_grant}/receipt", headers=ben), 404, "UNKNOWN_GRANT"
    )
    # Ben's view holds nothing of Ana's.
    for path in ("/v1/me/profile", "/v1/me/sharing", "/v1/me/registrations", "/v1/me/history"):
        text = client.get(path, headers=ben).text
        assert "Ana Lima" not in text
        assert world.ana_grant not in text
        assert "meet-1" not in text
    assert state(world.sdk) == before
    # Ben revoking everything at the bistro leaves Ana's grant alone.
    client.delete(f"/v1/me/hosts/{BISTRO}/grants", headers=ben)
    assert world.sdk.consent.get(world.ana_grant).state.value == "active"
