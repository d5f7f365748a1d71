"""A complete FastAPI application serving dualid's host and user routers under ``/v1``.

.. warning::
   **For demonstration only.** The authentication here believes the ``X-Host-Id`` and
   ``X-User-Id`` headers that the client sends, so anyone can act as any host or person.
   A real application plugs in its own dependencies (session cookie, OAuth2 bearer token,
   API key) that return the *verified* host id or user id.

Serve it (SQLite in ``./host_api.db``, the master key in ``DUALID_MASTER_KEY`` or else a
0600 key file created beside the database)::

    uvicorn examples.host_api:app
    uvicorn examples.host_api:create_app --factory      # the same, through the factory
    curl -H 'X-Host-Id: bistro-7' http://127.0.0.1:8000/v1/hosts/me

``DUALID_DATABASE_URL`` picks another store. Host onboarding is the application's business,
not the routers': this demo registers one host, ``bistro-7``, at start-up.

Run it as a script (``python examples/host_api.py``) and it exercises itself in-process on
a temporary database, printing each step, and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, HTTPException

from dualid import DataField, DualId, EventType, HostKind
from dualid.fastapi import host_router, install_error_handlers, user_router

DEFAULT_URL = "sqlite:///./host_api.db"
DEMO_HOST = "bistro-7"
HOOK_URL = "https://bistro.example/hooks"


# -- authentication: demonstration only ------------------------------------------------------
def host_from_header(x_host_id: Annotated[str | None, Header()] = None) -> str:
    """DEMO ONLY: trusts the header. Return the verified host id in a real app."""
    if not x_host_id:
        raise HTTPException(401, "send X-Host-Id", headers={"WWW-Authenticate": "X-Host-Id"})
    return x_host_id


def user_from_header(x_user_id: Annotated[str | None, Header()] = None) -> str:
    """DEMO ONLY: trusts the header. Return the verified user id in a real app."""
    if not x_user_id:
        raise HTTPException(401, "send X-User-Id", headers={"WWW-Authenticate": "X-User-Id"})
    return x_user_id


# -- the application ---------------------------------------------------------------------------
def create_app(database_url: str | None = None) -> FastAPI:
    """The application on ``database_url`` (default: ``DUALID_DATABASE_URL``, then
    ``./host_api.db``). The SDK is closed when the application shuts down."""
    sdk = DualId.open(database_url or os.environ.get("DUALID_DATABASE_URL") or DEFAULT_URL)
    sdk.hosts.register(DEMO_HOST, kind=HostKind.BUSINESS, name="Bistro Seven", exist_ok=True)
    sdk.hosts.require(
        DEMO_HOST,
        EventType.RESERVATION,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL},
        purpose="table booking",
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sdk.close()

    app = FastAPI(title="Bistro API (dualid demo)", lifespan=lifespan)
    app.state.sdk = sdk
    app.include_router(host_router(sdk, authenticate_host=host_from_header), prefix="/v1")
    app.include_router(user_router(sdk, authenticate_user=user_from_header), prefix="/v1")
    install_error_handlers(app)  # the same error shape for unknown routes and the rest

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn examples.host_api:app` works, and importing this module opens no database.
    if name == "app":
        return create_app()
    raise AttributeError(name)


# -- the self-check --------------------------------------------------------------------------
class Journey:
    """Calls the API and records which documented operations it has called."""

    def __init__(self, http: httpx.AsyncClient, operations: dict[str, tuple[str, str]]) -> None:
        self.http = http
        # operationId -> (METHOD, regex of the path template)
        self.operations = {
            op: (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
            for op, (method, path) in operations.items()
        }
        self.called: set[str] = set()

    async def call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        resp = await self.http.request(method, path, **kw)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        print(f"{method:6} {path:60} {resp.status_code}")
        bare = path.split("?", 1)[0]
        for op, (op_method, pattern) in self.operations.items():
            if op_method == method and pattern.match(bare):
                self.called.add(op)
        return resp.json() if resp.content else None

    def uncalled(self) -> set[str]:
        return set(self.operations) - self.called


async def exercise(http: httpx.AsyncClient) -> dict[str, Any]:
    """One person's journey through every operation of both routers, checked step by step.
    Returns a receipt to verify (the caller may hold the SDK that signed it)."""
    spec = (await http.get("/openapi.json")).json()
    journey = Journey(
        http,
        {
            op["operationId"]: (method.upper(), path)
            for path, ops in spec["paths"].items()
            for method, op in ops.items()
        },
    )
    call = journey.call
    host = {"X-Host-Id": DEMO_HOST}
    ana = {"X-User-Id": "user-ana"}

    me = await call("GET", "/v1/hosts/me", 200, headers=host)
    assert me["requirements"][0]["required"] == ["name", "phoneNumber"]
    await call("GET", "/v1/hosts/me", 401)
    await call(
        "PUT",
        "/v1/hosts/me/requirements/community_event",
        200,
        headers=host,
        json={"required": ["name"], "optional": ["email"], "purpose": "wine tasting"},
    )
    req = await call("GET", "/v1/hosts/me/requirements/community_event", 200, headers=host)
    assert req["optional"] == ["email"]
    # Signed notices of consent changes (docs/webhooks.md); nothing delivers them here.
    await call("GET", "/v1/hosts/me/webhook", 404, headers=host)
    refused = await call(
        "PUT", "/v1/hosts/me/webhook", 422, headers=host, json={"url": "http://127.0.0.1/"}
    )
    assert refused["code"] == "INVALID_WEBHOOK_URL"
    hook = await call("PUT", "/v1/hosts/me/webhook", 200, headers=host, json={"url": HOOK_URL})
    assert hook["secret"].startswith("whsec_")  # shown once
    hook = await call("GET", "/v1/hosts/me/webhook", 200, headers=host)
    assert hook["secret"] is None
    assert hook["publicKeys"][0].startswith("whpk_")
    empty = await call("GET", "/v1/me/profile", 200, headers=ana)
    assert not any(empty.values())
    await call(
        "PUT",
        "/v1/me/profile",
        200,
        headers=ana,
        json={"name": "Ana", "phoneNumber": "+1 415 555 2671", "email": "ana@example.org"},
    )
    await call(
        "PUT",
        "/v1/me/defaults/community_event",
        200,
        headers=ana,
        json={"fields": ["name", "email"], "hostId": DEMO_HOST},
    )
    defaults = await call("GET", "/v1/me/defaults", 200, headers=ana)
    assert sorted(defaults["items"][0]["fields"]) == ["email", "name"]
    reg = await call(
        "POST",
        "/v1/me/registrations",
        201,
        headers=ana,
        json={
            "hostId": DEMO_HOST,
            "eventType": "reservation",
            "eventId": "res-991",
            "share": ["name", "phoneNumber"],
        },
    )
    attendees = "/v1/hosts/me/events/res-991/attendees"
    (guest,) = (await call("GET", attendees, 200, headers=host))["items"]
    assert guest["phoneNumber"] == "+14155552671"
    assert "email" not in guest
    problem = await call(
        "POST",
        "/v1/me/registrations",
        409,
        headers=ana,
        json={"hostId": DEMO_HOST, "eventType": "reservation", "eventId": "res-991"},
    )
    assert problem["code"] == "DUPLICATE_REGISTRATION"
    grant = await call(
        "POST",
        "/v1/me/grants",
        201,
        headers=ana,
        json={
            "hostId": DEMO_HOST,
            "fields": ["email"],
            "eventId": "res-991",
            "purpose": "confirmation",
        },
    )
    (guest,) = (await call("GET", attendees, 200, headers=host))["items"]
    assert guest["email"] == "ana@example.org"
    explained = await call("GET", f"/v1/me/registrations/{reg['id']}/explain", 200, headers=ana)
    assert {i["field"]: i["visible"] for i in explained["items"]}["email"] is True
    receipt = await call("GET", f"/v1/me/grants/{grant['id']}/receipt", 200, headers=ana)
    await call("GET", f"/v1/me/grants/{reg['grantId']}/receipt", 404, headers={"X-User-Id": "eve"})
    revoked = await call("DELETE", f"/v1/me/grants/{grant['id']}", 200, headers=ana)
    assert revoked["revokedAt"] is not None
    (guest,) = (await call("GET", attendees, 200, headers=host))["items"]
    assert "email" not in guest
    await call("GET", "/v1/me/sharing", 200, headers=ana)
    sent = await call("GET", "/v1/hosts/me/webhook/deliveries?limit=10", 200, headers=host)
    told = sent["items"][0]
    assert told["type"] == "consent.revoked"
    assert told["status"] == "pending"
    assert told["payload"]["data"]["delete"] == [
        {"eventId": "res-991", "eventType": "reservation", "fields": ["email"]}
    ]
    assert "agt_" not in str(sent)  # a host never sees an agentId
    rotated = await call("POST", "/v1/hosts/me/webhook/secret", 200, headers=host)
    assert rotated["secret"] != hook["secret"]
    assert len(rotated["publicKeys"]) == 2
    ended = await call(
        "DELETE", f"/v1/me/hosts/{DEMO_HOST}/events/res-991/grants", 200, headers=ana
    )
    assert ended["revoked"] == 1
    (guest,) = (await call("GET", attendees, 200, headers=host))["items"]
    assert "name" not in guest
    tasting = await call(
        "POST",
        "/v1/me/registrations",
        201,
        headers=ana,
        json={"hostId": DEMO_HOST, "eventType": "community_event", "eventId": "taste-1"},
    )
    (taster,) = (await call("GET", "/v1/hosts/me/events/taste-1/attendees", 200, headers=host))[
        "items"
    ]
    assert taster["email"] == "ana@example.org"  # from Ana's default for this host
    await call("DELETE", f"/v1/me/hosts/{DEMO_HOST}/grants", 200, headers=ana)
    mine = await call("GET", "/v1/me/registrations", 200, headers=ana)
    assert {r["eventId"] for r in mine["items"]} == {"res-991", "taste-1"}
    await call("DELETE", f"/v1/me/registrations/{tasting['id']}", 204, headers=ana)
    history = await call("GET", "/v1/me/history", 200, headers=ana)
    assert history["items"][0]["action"] == "agent.created"
    revocation = next(i for i in history["items"] if i["action"] == "consent.revoked")
    assert revocation["notices"][0]["status"] == "pending"  # whether the host was told
    export = await call("GET", "/v1/me/export", 200, headers=ana)
    assert export["profile"]["name"] == "Ana"
    await call("DELETE", "/v1/me", 204, headers=ana)
    # the event stays; its only attendee is gone
    assert (await call("GET", attendees, 200, headers=host))["items"] == []
    await call("DELETE", "/v1/hosts/me/webhook", 204, headers=host)
    missing = journey.uncalled()
    assert not missing, f"operations the journey never called: {sorted(missing)}"
    print(f"all {len(journey.operations)} operations called")
    return dict(receipt)


def main(argv: list[str]) -> int:
    """``python examples/host_api.py``: the journey in-process on a temporary database.
    ``python examples/host_api.py http://127.0.0.1:8000``: the same journey against a
    running server (CI runs it against uvicorn on PostgreSQL)."""
    if argv:

        async def remote() -> None:
            async with httpx.AsyncClient(base_url=argv[0], timeout=30) as http:
                await exercise(http)

        asyncio.run(remote())
        print("ok")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(f"sqlite:///{Path(tmp) / 'demo.db'}")
        sdk: DualId = app.state.sdk
        try:

            async def local() -> dict[str, Any]:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
                    return await exercise(http)

            receipt = asyncio.run(local())
            assert sdk.consent.verify_receipt(receipt)
            assert sdk.audit.verify().ok
            print("receipt and audit chain verified")
        finally:
            sdk.close()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
