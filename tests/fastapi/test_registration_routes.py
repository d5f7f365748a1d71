"""The person's routes for one registration: cancel it, explain what the host sees, and
withdraw everything shared for one event."""

from __future__ import annotations

from starlette.testclient import TestClient

from dualid.fastapi._schemas import FieldName

from .conftest import ANA, BEN, BISTRO, CARA, CLUB, World, host_headers, state
from .conftest import user_headers as uh
from .test_host_routes import assert_problem

ANA_H = uh(ANA)
BEN_H = uh(BEN)
CARA_H = uh(CARA)
MISSING = "reg_aaaaaaaaaaaaaaaaaaaaaaaaaa"


def _registration_id(client: TestClient, headers: dict[str, str], event_id: str) -> str:
    items = client.get("/v1/me/registrations", headers=headers).json()["items"]
    (found,) = [r["id"] for r in items if r["eventId"] == event_id]
    return str(found)


def _names(client: TestClient, host_id: str, event_id: str) -> list[str | None]:
    resp = client.get(f"/v1/hosts/me/events/{event_id}/attendees", headers=host_headers(host_id))
    assert resp.status_code == 200, resp.text
    return [a.get("name") for a in resp.json()["items"]]


# -- DELETE /me/registrations/{registration_id} ------------------------------------------------
def test_cancel_registration(client: TestClient, world: World) -> None:
    reg_id = _registration_id(client, ANA_H, "res-1")
    assert sorted(_names(client, BISTRO, "res-1"), key=str) == ["Ana Lima", "Ben Okafor"]

    resp = client.delete(f"/v1/me/registrations/{reg_id}", headers=ANA_H)
    assert resp.status_code == 204, resp.text
    assert resp.content == b""

    remaining = client.get("/v1/me/registrations", headers=ANA_H).json()["items"]
    assert [r["eventId"] for r in remaining] == ["meet-1"]
    assert _names(client, BISTRO, "res-1") == ["Ben Okafor"]
    assert world.sdk.consent.get(world.ana_grant).state.value == "revoked"
    assert world.sdk.consent.get(world.ben_grant).state.value == "active"
    history = client.get("/v1/me/history", headers=ANA_H).json()["items"]
    assert history[-1]["action"] == "registration.cancelled"
    assert history[-1]["details"]["registration_id"] == reg_id
    # Gone: a second cancel is a 404.
    again = client.delete(f"/v1/me/registrations/{reg_id}", headers=ANA_H)
    assert_problem(again, 404, "UNKNOWN_REGISTRATION")
    assert world.sdk.audit.verify().ok


def test_cancel_then_register_again(client: TestClient, world: World) -> None:
    reg_id = _registration_id(client, BEN_H, "res-1")
    assert client.delete(f"/v1/me/registrations/{reg_id}", headers=BEN_H).status_code == 204
    body = {
        "hostId": BISTRO,
        "eventType": "reservation",
        "eventId": "res-1",
        "share": ["name", "phoneNumber"],
    }
    resp = client.post("/v1/me/registrations", headers=BEN_H, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] != reg_id
    assert "Ben Okafor" in _names(client, BISTRO, "res-1")


def test_another_persons_registration_is_404_like_a_missing_one(
    client: TestClient, world: World
) -> None:
    bens = _registration_id(client, BEN_H, "res-1")
    before = state(world.sdk)
    answers = []
    for headers in (ANA_H, CARA_H):
        for reg_id in (bens, MISSING, "x" * 64):
            for method, path in (
                ("DELETE", f"/v1/me/registrations/{reg_id}"),
                ("GET", f"/v1/me/registrations/{reg_id}/explain"),
            ):
                resp = client.request(method, path, headers=headers)
                answers.append(assert_problem(resp, 404, "UNKNOWN_REGISTRATION"))
    # One answer, whoever asks and whatever the id: no existence oracle.
    assert all(a == answers[0] for a in answers)
    assert state(world.sdk) == before
    assert world.sdk.identity.lookup(CARA) is None
    assert _registration_id(client, BEN_H, "res-1") == bens


def test_registration_id_too_long_is_422(client: TestClient, world: World) -> None:
    resp = client.delete("/v1/me/registrations/" + "x" * 65, headers=ANA_H)
    body = assert_problem(resp, 422, "VALIDATION_ERROR")
    assert body["fields"] == ["path.registration_id"]


# -- GET /me/registrations/{registration_id}/explain ---------------------------------------------
def test_explain_every_field(client: TestClient, world: World) -> None:
    reg_id = _registration_id(client, ANA_H, "res-1")
    resp = client.get(f"/v1/me/registrations/{reg_id}/explain", headers=ANA_H)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {k: v for k, v in body.items() if k != "items"} == {
        "registrationId": reg_id,
        "hostId": BISTRO,
        "eventType": "reservation",
        "eventId": "res-1",
    }
    items = body["items"]
    assert [i["field"] for i in items] == [f.value for f in FieldName]
    by_field = {i["field"]: i for i in items}
    assert set(by_field["name"]) == {
        "field",
        "visible",
        "reason",
        "declared",
        "required",
        "grantIds",
        "detail",
    }
    for name in ("name", "phoneNumber"):
        assert by_field[name] | {"detail": ""} == {
            "field": name,
            "visible": True,
            "reason": "visible",
            "declared": True,
            "required": True,
            "grantIds": [world.ana_grant],
            "detail": "",
        }
    assert by_field["email"]["visible"] is True
    assert by_field["email"]["required"] is False
    # Optional, not shared.
    assert by_field["additionalData"]["reason"] == "no_grant"
    assert by_field["additionalData"]["declared"] is True
    # Not asked for by the host.
    for name in ("birthday", "companyAffiliation"):
        assert by_field[name]["reason"] == "not_declared"
        assert by_field[name]["visible"] is False
        assert by_field[name]["declared"] is False

    # After a revocation the answer names the revoked grant.
    client.delete(f"/v1/me/grants/{world.ana_grant}", headers=ANA_H)
    after = client.get(f"/v1/me/registrations/{reg_id}/explain", headers=ANA_H).json()
    revoked = {i["field"]: i for i in after["items"]}["name"]
    assert revoked["visible"] is False
    assert revoked["reason"] == "revoked"
    assert revoked["grantIds"] == [world.ana_grant]


def test_explain_agrees_with_what_the_host_sees(client: TestClient, world: World) -> None:
    reg_id = _registration_id(client, ANA_H, "meet-1")
    items = client.get(f"/v1/me/registrations/{reg_id}/explain", headers=ANA_H).json()["items"]
    visible = {i["field"] for i in items if i["visible"]}
    assert visible == {"name", "birthday"}
    attendees = client.get(
        "/v1/hosts/me/events/meet-1/attendees", headers=host_headers(CLUB)
    ).json()["items"]
    (ana,) = attendees
    assert set(ana) - {"ref", "sharedAt"} == visible


def test_explain_writes_nothing(client: TestClient, world: World) -> None:
    reg_id = _registration_id(client, ANA_H, "res-1")
    before = state(world.sdk)
    assert client.get(f"/v1/me/registrations/{reg_id}/explain", headers=ANA_H).status_code == 200
    assert state(world.sdk) == before


# -- DELETE /me/hosts/{host_id}/events/{event_id}/grants ------------------------------------------
def test_revoke_one_event(client: TestClient, world: World) -> None:
    sdk = world.sdk
    host_wide = client.post(
        "/v1/me/grants",
        headers=ANA_H,
        json={"hostId": BISTRO, "fields": ["name"], "purpose": "every visit"},
    ).json()["id"]
    resp = client.delete(f"/v1/me/hosts/{BISTRO}/events/res-1/grants", headers=ANA_H)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"revoked": 1}
    assert sdk.consent.get(world.ana_grant).state.value == "revoked"
    # The host-wide grant stays, Ben's consent too; Ana stays registered.
    assert sdk.consent.get(host_wide).state.value == "active"
    assert sdk.consent.get(world.ben_grant).state.value == "active"
    assert "res-1" in [
        r["eventId"] for r in client.get("/v1/me/registrations", headers=ANA_H).json()["items"]
    ]
    assert _names(client, BISTRO, "res-1").count("Ana Lima") == 0
    # The other host is untouched.
    assert "Ana Lima" in _names(client, CLUB, "meet-1")
    # Again: nothing left to end.
    again = client.delete(f"/v1/me/hosts/{BISTRO}/events/res-1/grants", headers=ANA_H)
    assert again.json() == {"revoked": 0}
    assert sdk.audit.verify().ok


def test_revoke_one_event_errors(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    assert_problem(
        client.delete("/v1/me/hosts/ghost/events/res-1/grants", headers=ANA_H),
        404,
        "UNKNOWN_HOST",
    )
    assert_problem(
        client.delete("/v1/me/hosts/ghost/events/res-1/grants", headers=CARA_H),
        404,
        "UNKNOWN_HOST",
    )
    # Not registered: the same answer whether the event exists (Ana is registered for
    # meet-1) or not, and whether the caller is known or not.
    answers = [
        assert_problem(
            client.delete(f"/v1/me/hosts/{CLUB}/events/{event}/grants", headers=headers),
            404,
            "UNKNOWN_REGISTRATION",
        )
        for headers in (BEN_H, CARA_H)
        for event in ("meet-1", "meet-404")
    ]
    assert all(a == answers[0] for a in answers)
    for bad in ("bad%20id", "-x", "e" * 129):
        assert_problem(
            client.delete(f"/v1/me/hosts/{CLUB}/events/{bad}/grants", headers=BEN_H),
            422,
            "VALIDATION_ERROR",
        )
    assert state(world.sdk) == before
    assert world.sdk.identity.lookup(CARA) is None


# -- every new route -------------------------------------------------------------------------------
NEW_ROUTES = (
    ("DELETE", f"/v1/me/registrations/{MISSING}"),
    ("GET", f"/v1/me/registrations/{MISSING}/explain"),
    ("DELETE", f"/v1/me/hosts/{BISTRO}/events/res-1/grants"),
    ("GET", "/v1/me/export"),
)


def test_new_routes_need_authentication(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    for method, path in NEW_ROUTES:
        assert_problem(client.request(method, path), 401, "UNAUTHENTICATED")
    assert state(world.sdk) == before


def test_new_routes_never_provision_a_person(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    for method, path in NEW_ROUTES:
        assert client.request(method, path, headers=CARA_H).status_code in (200, 404)
    assert state(world.sdk) == before
    assert world.sdk.identity.lookup(CARA) is None
