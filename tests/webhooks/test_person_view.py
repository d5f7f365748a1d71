"""The person sees, per change, whether and when the host was told: the settings API
(``GET /me/history``, ``GET /me/sharing``), the export and the history page; the host
sees its endpoint and deliveries over HTTP (``/hosts/me/webhook...``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fastapi.conftest import TestClient, host_headers, make_app, user_headers
from tests.ui.conftest import make_app as make_pages

from .conftest import EMAIL, HOST, NAME, RES, World

pytestmark = pytest.mark.usefixtures("receiver")


def _revoke_and_deliver(world: World) -> None:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    grant = world.sdk.consent.grant(world.ana, HOST, fields={EMAIL}, event_id="res-1", purpose="x")
    world.sdk.consent.revoke(grant.id)
    world.clock.advance(timedelta(seconds=2))
    assert world.sdk.webhooks.deliver_pending().delivered == 3


def test_settings_api_history_and_sharing_show_the_notices(world: World) -> None:
    _revoke_and_deliver(world)
    client = TestClient(make_app(world.sdk))
    history = client.get("/v1/me/history", headers=user_headers("user-ana")).json()["items"]
    (revocation,) = [e for e in history if e["action"] == "consent.revoked"]
    (notice,) = revocation["notices"]
    assert notice["status"] == "delivered"
    assert notice["hostId"] == HOST
    assert notice["type"] == "consent.revoked"
    assert notice["deliveredAt"] is not None
    assert [e["notices"] for e in history if e["action"] == "profile.updated"] == [[]]
    sharing = client.get("/v1/me/sharing", headers=user_headers("user-ana")).json()["items"]
    assert [i["notice"]["type"] for i in sharing] == ["consent.granted"]
    assert world.ana not in str(history)
    export = world.sdk.export(world.ana)
    (exported,) = [e for e in export["history"] if e["action"] == "consent.revoked"]
    assert exported["notices"][0]["status"] == "delivered"


def test_the_history_page_says_when_the_host_was_notified(world: World) -> None:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    pages = TestClient(make_pages(world.sdk))
    page = pages.get("/privacy/history", headers={"X-User-Id": "user-ana"}).text
    assert "Bistro Seven has not been notified yet" in page
    world.sdk.webhooks.deliver_pending()
    page = pages.get("/privacy/history", headers={"X-User-Id": "user-ana"}).text
    assert "Bistro Seven was notified on" in page
    german = pages.get(
        "/privacy/history", headers={"X-User-Id": "user-ana", "Accept-Language": "de"}
    ).text
    assert "Bistro Seven wurde am" in german


def test_host_routes(world: World) -> None:
    client = TestClient(make_app(world.sdk, handlers=True))
    h = host_headers(HOST)
    got = client.get("/v1/hosts/me/webhook", headers=h).json()
    assert got["url"] == world.receiver.url
    assert got["secret"] is None
    assert got["publicKeys"] == list(world.endpoint.public_keys)
    _revoke_and_deliver(world)
    page = client.get("/v1/hosts/me/webhook/deliveries?limit=2", headers=h).json()
    assert [d["type"] for d in page["items"]] == ["consent.revoked", "consent.granted"]
    assert page["items"][0]["status"] == "delivered"
    assert page["items"][0]["lastStatus"] == 200
    assert page["nextCursor"] is not None
    rest = client.get(
        f"/v1/hosts/me/webhook/deliveries?cursor={page['nextCursor']}", headers=h
    ).json()
    assert len(rest["items"]) == 1
    bad = client.get("/v1/hosts/me/webhook/deliveries?cursor=xx", headers=h)
    assert bad.status_code == 422
    rotated = client.post("/v1/hosts/me/webhook/secret?keepPreviousHours=0", headers=h).json()
    assert rotated["secret"].startswith("whsec_")
    assert len(rotated["publicKeys"]) == 1
    refused = client.put("/v1/hosts/me/webhook", headers=h, json={"url": "https://u:p@x.example/"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "INVALID_WEBHOOK_URL"
    assert client.delete("/v1/hosts/me/webhook", headers=h).status_code == 204
    gone = client.get("/v1/hosts/me/webhook", headers=h)
    assert gone.status_code == 404
    assert gone.json()["code"] == "UNKNOWN_WEBHOOK"
    assert client.delete("/v1/hosts/me/webhook", headers=h).status_code == 404
    created = client.put("/v1/hosts/me/webhook", headers=h, json={"url": world.receiver.url})
    assert created.json()["secret"].startswith("whsec_")
