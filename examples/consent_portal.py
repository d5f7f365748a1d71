"""A runnable consent portal: dualid's data-sharing pages, the person's API and the host
API in one FastAPI application, with demo hosts and events of all six event types.

.. warning::
   **For demonstration only.** Authentication here believes the ``X-Host-Id`` and
   ``X-User-Id`` headers, and a browser without them is the demo person ``user-ana``: anyone
   can act as anyone. A real application plugs in its own dependencies (session cookie,
   OAuth2 bearer token) that return the *verified* host id or user id.

Serve it (SQLite in ``./consent_portal.db``, the master key in ``DUALID_MASTER_KEY`` or
else a 0600 key file beside the database) and open http://127.0.0.1:8000/::

    pip install 'dualid[ui]' uvicorn
    uvicorn examples.consent_portal:app

Pages under ``/privacy`` (``consent_pages``), the person's API and the host API under
``/v1``. ``DUALID_DATABASE_URL`` picks another store.

Run it as a script (``python examples/consent_portal.py``) and it goes through one
person's journey in-process on a temporary database, printing each step, and exits 0.
"""

from __future__ import annotations

import asyncio
import html
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
from fastapi.responses import HTMLResponse

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.fastapi import host_router, user_router
from dualid.ui import consent_pages

DEFAULT_URL = "sqlite:///./consent_portal.db"
DEMO_USER = "user-ana"

F = DataField
# (host id, kind, name, event type, event id, title, required, optional, purpose)
DEMO_EVENTS = [
    (
        "bistro-7",
        HostKind.BUSINESS,
        "Bistro Seven",
        EventType.RESERVATION,
        "res-991",
        "Table for two, Friday 19:30",
        {F.NAME, F.PHONE_NUMBER},
        {F.EMAIL},
        "table booking and a reminder on the day",
    ),
    (
        "makers-guild",
        HostKind.COMMUNITY,
        "Makers Guild",
        EventType.COMMUNITY_EVENT,
        "repair-cafe-12",
        "Repair café",
        {F.NAME},
        {F.EMAIL, F.PHONE_NUMBER},
        "the attendee list and a change of venue notice",
    ),
    (
        "rowing-club",
        HostKind.CLUB,
        "Riverside Rowing Club",
        EventType.CLUB_EVENT,
        "regatta-2026",
        "Summer regatta",
        {F.NAME, F.BIRTHDAY},
        {F.PHONE_NUMBER, F.EMAIL},
        "age classes and the emergency contact list",
    ),
    (
        "dr-lee",
        HostKind.EXPERT,
        "Dr. Mina Lee",
        EventType.EXPERT_EVENT,
        "tax-clinic-3",
        "Tax clinic for freelancers",
        {F.NAME, F.EMAIL},
        {F.COMPANY_AFFILIATION},
        "sending the session materials",
    ),
    (
        "expo-hall",
        HostKind.BUSINESS,
        "Expo Hall",
        EventType.BUSINESS_EVENT,
        "trade-fair-26",
        "Trade fair 2026",
        {F.NAME, F.COMPANY_AFFILIATION},
        {F.EMAIL, F.PHONE_NUMBER},
        "the badge and the exhibitors' contact requests",
    ),
    (
        "acme",
        HostKind.COMPANY,
        "Acme Ltd",
        EventType.COMPANY_EVENT,
        "summer-party",
        "Summer party",
        {F.NAME},
        {F.ADDITIONAL_DATA},
        "planning the catering",
    ),
]
DEMO_PROFILE = EventUserData(name="Ana Lima", phone_number="+14155552671", email="ana@example.org")


# -- authentication: demonstration only ------------------------------------------------------
def host_from_header(x_host_id: Annotated[str | None, Header()] = None) -> str:
    """DEMO ONLY: trusts the header. Return the verified host id in a real app."""
    if not x_host_id:
        raise HTTPException(401, "send X-Host-Id", headers={"WWW-Authenticate": "X-Host-Id"})
    return x_host_id


def user_from_header(x_user_id: Annotated[str | None, Header()] = None) -> str:
    """DEMO ONLY: the header's user, else the demo person. Return the verified user id of
    the session in a real app (and raise HTTPException(401) without one)."""
    return x_user_id or DEMO_USER


# -- the application ---------------------------------------------------------------------------
def seed(sdk: DualId) -> None:
    """The demo hosts, their requirements and events, and the demo person's profile."""
    for host_id, kind, name, etype, event_id, title, required, optional, purpose in DEMO_EVENTS:
        sdk.hosts.register(host_id, kind=kind, name=name, exist_ok=True)
        sdk.hosts.require(host_id, etype, required=required, optional=optional, purpose=purpose)
        sdk.events.create(host_id, event_id, etype, title=title, exist_ok=True)
    agent_id = sdk.identity.agent_for(DEMO_USER)
    if sdk.profiles.get(agent_id) is None:
        sdk.profiles.put(agent_id, DEMO_PROFILE)


def create_app(database_url: str | None = None) -> FastAPI:
    """The portal on ``database_url`` (default: ``DUALID_DATABASE_URL``, then
    ``./consent_portal.db``). The SDK is closed when the application shuts down."""
    sdk = DualId.open(database_url or os.environ.get("DUALID_DATABASE_URL") or DEFAULT_URL)
    seed(sdk)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sdk.close()

    app = FastAPI(title="Consent portal (dualid demo)", lifespan=lifespan)
    app.state.sdk = sdk
    app.include_router(consent_pages(sdk, authenticate_user=user_from_header), prefix="/privacy")
    app.include_router(user_router(sdk, authenticate_user=user_from_header), prefix="/v1")
    app.include_router(host_router(sdk, authenticate_host=host_from_header), prefix="/v1")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        items = "".join(
            f'<li><a href="/privacy/hosts/{host_id}/events/{event_id}/register?type={etype.value}">'
            f"{html.escape(title)}</a> ({html.escape(name)})</li>"
            for host_id, _, name, etype, event_id, title, *_ in DEMO_EVENTS
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>Consent portal demo</title><link rel="stylesheet" href="/privacy/dualid.css">'
            '</head><body><main class="wrap"><h1>Consent portal demo</h1>'
            f"<h2>Register for an event</h2><ul>{items}</ul>"
            '<p><a href="/privacy/">Your data-sharing settings</a></p></main></body></html>'
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def __getattr__(name: str) -> Any:
    # `uvicorn examples.consent_portal:app` works, and importing this module opens nothing.
    if name == "app":
        return create_app()
    raise AttributeError(name)


# -- the self-check --------------------------------------------------------------------------
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


async def exercise(app: FastAPI) -> None:
    """One person's journey through the pages, checked against the host API."""
    sdk: DualId = app.state.sdk
    host = {"X-Host-Id": "rowing-club"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:

        async def call(method: str, path: str, expect: int, **kw: Any) -> httpx.Response:
            resp = await http.request(method, path, **kw)
            assert resp.status_code == expect, f"{method} {path}: {resp.status_code}"
            print(f"{method:5} {path:60} {resp.status_code}")
            return resp

        page = "/privacy/hosts/rowing-club/events/regatta-2026/register?type=club_event"
        form = await call("GET", page, 200)
        assert "Riverside Rowing Club" in form.text
        assert "agt_" not in form.text
        token = _TOKEN.search(form.text)
        assert token is not None
        # The profile has no birthday, which the club requires: filled in on the page.
        base = {"csrf_token": token.group(1), "action": "confirm", "share": ["phone_number"]}
        refused = await call("POST", page, 422, data=base)
        assert "Date of birth" in refused.text
        await call("POST", page, 303, data={**base, "value_birthday": "1990-04-02"})
        (guest,) = (
            await call("GET", "/v1/hosts/me/events/regatta-2026/attendees", 200, headers=host)
        ).json()["items"]
        assert set(guest) == {"ref", "sharedAt", "name", "birthday", "phoneNumber"}
        settings = await call("GET", "/privacy/", 200, headers={"Accept-Language": "de"})
        assert "Riverside Rowing Club" in settings.text
        assert "Nicht mehr teilen" in settings.text
        (grant,) = sdk.consent.grants(sdk.identity.agent_for(DEMO_USER))
        ask = f"/privacy/withdraw?grant={grant.id}&field=phone_number"
        confirm = await call("GET", ask, 200)
        token = _TOKEN.search(confirm.text)
        assert token is not None
        await call(
            "POST",
            "/privacy/withdraw",
            303,
            data={"csrf_token": token.group(1), "grant": grant.id, "field": "phone_number"},
        )
        (guest,) = (
            await call("GET", "/v1/hosts/me/events/regatta-2026/attendees", 200, headers=host)
        ).json()["items"]
        assert set(guest) == {"ref", "sharedAt", "name", "birthday"}
        await call("POST", "/privacy/withdraw", 403, data={"host": "rowing-club"})
    assert sdk.audit.verify().ok
    print("audit chain verified")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(f"sqlite:///{Path(tmp) / 'demo.db'}")
        try:
            asyncio.run(exercise(app))
        finally:
            app.state.sdk.close()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
