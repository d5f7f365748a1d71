"""The person's router: every route, every documented error."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from dualid import DataField, DualId, EventType
from dualid.testing import FakeClock

from .conftest import (
    ANA,
    BEN,
    BISTRO,
    CARA,
    CLUB,
    World,
    host_headers,
    make_app,
    state,
)
from .conftest import user_headers as uh
from .test_host_routes import assert_problem

ANA_H = uh(ANA)
BEN_H = uh(BEN)
CARA_H = uh(CARA)


# -- profile ---------------------------------------------------------------------------------
def test_get_profile(client: TestClient, world: World) -> None:
    resp = client.get("/v1/me/profile", headers=ANA_H)
    assert resp.status_code == 200
    assert resp.json() == {
        "name": "Ana Lima",
        "phoneNumber": "+14155552671",
        "email": "ana@example.org",
        "birthday": "1990-04-02",
        "companyAffiliation": "Acme",
        "additionalData": {"diet": "vegetarian"},
    }


def test_get_profile_of_a_new_person_is_empty_and_creates_nothing(
    client: TestClient, world: World
) -> None:
    before = state(world.sdk)
    body = client.get("/v1/me/profile", headers=CARA_H).json()
    assert set(body.values()) == {None}
    assert state(world.sdk) == before


def test_put_profile_replaces_and_normalises(client: TestClient, world: World) -> None:
    resp = client.put(
        "/v1/me/profile",
        headers=CARA_H,
        json={"name": " Cara ", "phoneNumber": "+1 (415) 555-2671", "birthday": "2001-02-03"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["phoneNumber"] == "+14155552671"
    assert resp.json()["name"] == "Cara"
    resp = client.put("/v1/me/profile", headers=CARA_H, json={"email": "cara@example.org"})
    assert resp.json()["name"] is None
    agent = world.sdk.identity.lookup(CARA)
    assert agent is not None
    stored = world.sdk.profiles.get(agent)
    assert stored is not None
    assert stored.personal_fields() == {DataField.EMAIL}


def test_put_profile_invalid_values_change_nothing(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    cases = [
        ({"phoneNumber": "not a phone"}, "INVALID_FIELD", ["phoneNumber"]),
        ({"name": "bad\u0007name"}, "INVALID_FIELD", ["name"]),
        ({"additionalData": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "INVALID_FIELD", None),
        ({"birthday": "2999-01-01"}, "INVALID_FIELD", ["birthday"]),
        ({"email": "nope"}, "VALIDATION_ERROR", ["body.email"]),
        ({"birthday": "1850-01-01"}, "INVALID_FIELD", ["birthday"]),
        ({"nickname": "x"}, "VALIDATION_ERROR", ["body.nickname"]),
        ({"phone_number": "+14155552671"}, "VALIDATION_ERROR", ["body.phone_number"]),
        ({"name": "x" * 201}, "VALIDATION_ERROR", ["body.name"]),
        ({"sharedWithHost": BISTRO}, "VALIDATION_ERROR", ["body.sharedWithHost"]),
    ]
    for body, code, fields in cases:
        for who in (ANA_H, CARA_H):
            problem = assert_problem(
                client.put("/v1/me/profile", headers=who, json=body), 422, code
            )
            if fields is not None:
                assert problem["fields"] == fields
            # The offending value is never echoed back.
            for value in body.values():
                if isinstance(value, str) and len(value) > 3:
                    assert value not in str(problem)
    assert state(world.sdk) == before


# -- sharing ----------------------------------------------------------------------------------
def test_get_sharing(client: TestClient, world: World) -> None:
    resp = client.get("/v1/me/sharing", headers=ANA_H)
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert [(i["hostId"], i["eventId"]) for i in items] == [(BISTRO, "res-1"), (CLUB, "meet-1")]
    assert items[0] == {
        "grantId": world.ana_grant,
        "hostId": BISTRO,
        "hostName": "Bistro Seven",
        "fields": ["name", "phoneNumber", "email"],
        "eventId": "res-1",
        "eventType": "reservation",
        "purpose": "table booking",
        "since": items[0]["since"],
        "until": None,
        "notice": None,  # the host has no webhook endpoint (tests/webhooks: with one)
    }
    assert client.get("/v1/me/sharing", headers=CARA_H).json() == {"items": []}


# -- registrations -------------------------------------------------------------------------------
def test_register_with_explicit_share_and_event_data(client: TestClient, world: World) -> None:
    resp = client.post(
        "/v1/me/registrations",
        headers=CARA_H,
        json={
            "hostId": BISTRO,
            "eventType": "reservation",
            "eventId": "res-9",
            "share": ["name", "phoneNumber", "additionalData"],
            "data": {"name": "Cara", "phoneNumber": "+14155550100", "additionalData": {"n": 2}},
            "purpose": "dinner for two",
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["id"].startswith("reg_")
    assert body["shared"] == ["name", "phoneNumber", "additionalData"]
    assert body["grantId"].startswith("gr_")
    assert body["eventType"] == "reservation"
    seen = client.get("/v1/hosts/me/events/res-9/attendees", headers=host_headers(BISTRO)).json()[
        "items"
    ]
    assert seen[0]["additionalData"] == {"n": 2}
    regs = client.get("/v1/me/registrations", headers=CARA_H).json()["items"]
    assert [r["eventId"] for r in regs] == ["res-9"]


def test_register_refuses_a_future_birthday_in_event_data(client: TestClient, world: World) -> None:
    """``data`` meets the profile's rules: the host never sees a birthday after today."""
    world.sdk.hosts.require(
        BISTRO,
        EventType.RESERVATION,
        required={DataField.NAME},
        optional={DataField.BIRTHDAY},
        purpose="table booking",
    )
    before = state(world.sdk)
    body = {
        "hostId": BISTRO,
        "eventType": "reservation",
        "eventId": "res-2",
        "share": ["name", "birthday"],
        "data": {"birthday": "2999-01-01"},
    }
    problem = assert_problem(
        client.post("/v1/me/registrations", headers=ANA_H, json=body), 422, "INVALID_FIELD"
    )
    assert problem["fields"] == ["birthday"]
    assert state(world.sdk) == before
    resp = client.get("/v1/hosts/me/events/res-2/attendees", headers=host_headers(BISTRO))
    assert_problem(resp, 404, "UNKNOWN_EVENT")


def test_register_with_defaults(client: TestClient, world: World) -> None:
    resp = client.put(
        "/v1/me/defaults/reservation", headers=BEN_H, json={"fields": ["name", "phoneNumber"]}
    )
    assert resp.status_code == 200
    resp = client.post(
        "/v1/me/registrations",
        headers=BEN_H,
        json={"hostId": BISTRO, "eventType": "reservation", "eventId": "res-2"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["shared"] == ["name", "phoneNumber"]


def test_register_errors(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    reg = {"hostId": BISTRO, "eventType": "reservation", "eventId": "res-1"}
    # Already registered.
    assert_problem(
        client.post(
            "/v1/me/registrations", headers=ANA_H, json={**reg, "share": ["name", "phoneNumber"]}
        ),
        409,
        "DUPLICATE_REGISTRATION",
    )
    new = {**reg, "eventId": "res-5"}
    problem = assert_problem(
        client.post("/v1/me/registrations", headers=ANA_H, json={**new, "share": ["name"]}),
        422,
        "CONSENT_REQUIRED",
    )
    assert problem["fields"] == ["phoneNumber"]
    problem = assert_problem(
        client.post(
            "/v1/me/registrations",
            headers=ANA_H,
            json={**new, "share": ["name", "phoneNumber", "birthday"]},
        ),
        422,
        "FIELD_NOT_REQUESTED",
    )
    assert problem["fields"] == ["birthday"]
    assert_problem(
        client.post(
            "/v1/me/registrations",
            headers=ANA_H,
            json={**new, "hostId": "ghost", "share": ["name"]},
        ),
        404,
        "UNKNOWN_HOST",
    )
    past = (datetime(2026, 1, 1, tzinfo=UTC) - timedelta(days=1)).isoformat()
    assert_problem(
        client.post(
            "/v1/me/registrations",
            headers=ANA_H,
            json={**new, "share": ["name", "phoneNumber"], "expiresAt": past},
        ),
        422,
        "INVALID_EXPIRY",
    )
    for bad in (
        {**new, "eventType": "party"},
        {**new, "eventId": "has space"},
        {**new, "hostId": "-bad"},
        {**new, "share": ["shoeSize"]},
        {**new, "share": "name"},
        {**new, "expiresAt": "2030-01-01T00:00:00"},  # naive
        {**new, "data": {"phoneNumber": 5}},
        {**new, "agentId": "agt_x"},
        {"hostId": BISTRO},
    ):
        assert_problem(
            client.post("/v1/me/registrations", headers=ANA_H, json=bad), 422, "VALIDATION_ERROR"
        )
    problem = assert_problem(
        client.post(
            "/v1/me/registrations",
            headers=ANA_H,
            json={**new, "share": ["name", "phoneNumber"], "data": {"phoneNumber": "12"}},
        ),
        422,
        "INVALID_FIELD",
    )
    assert problem["fields"] == ["phoneNumber"]
    assert state(world.sdk) == before


# -- grants --------------------------------------------------------------------------------------
def test_grant_revoke_and_receipt(client: TestClient, world: World) -> None:
    resp = client.post(
        "/v1/me/grants",
        headers=BEN_H,
        json={"hostId": BISTRO, "fields": ["email"], "eventId": "res-1", "purpose": "confirmation"},
    )
    assert resp.status_code == 201, resp.text
    grant = resp.json()
    assert grant["state"] == "active"
    assert grant["fields"] == ["email"]
    assert grant["eventType"] == "reservation"
    items = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers(BISTRO)).json()
    assert any(i.get("email") == "ben@example.org" for i in items["items"])

    receipt = client.get(f"/v1/me/grants/{grant['id']}/receipt", headers=BEN_H)
    assert receipt.status_code == 200
    doc = receipt.json()
    assert doc["consent"]["grant_id"] == grant["id"]
    assert world.sdk.consent.verify_receipt(doc)

    resp = client.delete(f"/v1/me/grants/{grant['id']}", headers=BEN_H)
    assert resp.status_code == 200
    assert resp.json()["state"] == "revoked"
    assert resp.json()["revokedAt"] is not None
    assert_problem(
        client.delete(f"/v1/me/grants/{grant['id']}", headers=BEN_H), 409, "GRANT_NOT_ACTIVE"
    )
    items = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers(BISTRO)).json()
    assert all("email" not in i for i in items["items"] if i.get("name") == "Ben Okafor")
    # A receipt of a revoked grant still exists, and says so.
    doc = client.get(f"/v1/me/grants/{grant['id']}/receipt", headers=BEN_H).json()
    assert doc["consent"]["state"] == "revoked"


def test_host_wide_grant_with_expiry(
    client: TestClient, world: World, fake_clock: FakeClock
) -> None:
    expires = (datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(hours=2)).isoformat()
    resp = client.post(
        "/v1/me/grants",
        headers=ANA_H,
        json={"hostId": CLUB, "fields": ["email"], "purpose": "newsletter", "expiresAt": expires},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["eventId"] is None
    club = host_headers(CLUB)
    (ana,) = client.get("/v1/hosts/me/events/meet-1/attendees", headers=club).json()["items"]
    assert ana["email"] == "ana@example.org"
    fake_clock.advance(timedelta(hours=3))
    (ana,) = client.get("/v1/hosts/me/events/meet-1/attendees", headers=club).json()["items"]
    assert "email" not in ana
    sharing = client.get("/v1/me/sharing", headers=ANA_H).json()["items"]
    assert all(i["purpose"] != "newsletter" for i in sharing)


def test_revoking_an_expired_grant_is_409_grant_not_active(
    client: TestClient, world: World, fake_clock: FakeClock
) -> None:
    expires = (fake_clock.now().time + timedelta(hours=1)).isoformat()
    body = {"hostId": CLUB, "fields": ["email"], "purpose": "newsletter", "expiresAt": expires}
    grant = client.post("/v1/me/grants", headers=ANA_H, json=body).json()
    fake_clock.advance(timedelta(hours=2))
    before = state(world.sdk)
    problem = assert_problem(
        client.delete(f"/v1/me/grants/{grant['id']}", headers=ANA_H), 409, "GRANT_NOT_ACTIVE"
    )
    assert "expired" in str(problem["detail"])
    assert state(world.sdk) == before


def test_grant_errors(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    base = {"hostId": BISTRO, "fields": ["email"], "purpose": "p"}
    problem = assert_problem(
        client.post("/v1/me/grants", headers=ANA_H, json={**base, "fields": ["birthday"]}),
        422,
        "FIELD_NOT_REQUESTED",
    )
    assert problem["fields"] == ["birthday"]
    assert_problem(
        client.post("/v1/me/grants", headers=ANA_H, json={**base, "eventId": "res-404"}),
        404,
        "UNKNOWN_REGISTRATION",
    )
    assert_problem(
        client.post(
            "/v1/me/grants",
            headers=ANA_H,
            json={**base, "eventId": "res-1", "eventType": "club_event"},
        ),
        422,
        "INVALID_INPUT",
    )
    assert_problem(
        client.post("/v1/me/grants", headers=ANA_H, json={**base, "hostId": "ghost"}),
        404,
        "UNKNOWN_HOST",
    )
    for bad in (
        {**base, "fields": []},
        {**base, "purpose": ""},
        {**base, "fields": ["email"] * 13},
        {**base, "eventType": "gala"},
        {"fields": ["email"], "purpose": "p"},
    ):
        assert_problem(
            client.post("/v1/me/grants", headers=ANA_H, json=bad), 422, "VALIDATION_ERROR"
        )
    assert state(world.sdk) == before


def test_someone_elses_grant_is_404_like_a_missing_one(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    for path in (f"/v1/me/grants/{world.ana_grant}", "/v1/me/grants/gr_doesnotexist"):
        for who in (BEN_H, CARA_H):
            assert_problem(client.delete(path, headers=who), 404, "UNKNOWN_GRANT")
            assert_problem(client.get(path + "/receipt", headers=who), 404, "UNKNOWN_GRANT")
    assert_problem(client.delete("/v1/me/grants/nonsense", headers=ANA_H), 404, "UNKNOWN_GRANT")
    assert_problem(
        client.delete("/v1/me/grants/" + "g" * 65, headers=ANA_H), 422, "VALIDATION_ERROR"
    )
    assert state(world.sdk) == before


def test_revoke_everything_shared_with_a_host(client: TestClient, world: World) -> None:
    resp = client.delete(f"/v1/me/hosts/{BISTRO}/grants", headers=ANA_H)
    assert resp.status_code == 200
    assert resp.json() == {"revoked": 1}
    assert client.delete(f"/v1/me/hosts/{BISTRO}/grants", headers=ANA_H).json() == {"revoked": 0}
    assert client.delete(f"/v1/me/hosts/{BISTRO}/grants", headers=CARA_H).json() == {"revoked": 0}
    hosts = {i["hostId"] for i in client.get("/v1/me/sharing", headers=ANA_H).json()["items"]}
    assert hosts == {CLUB}
    # Ben's sharing with the bistro is untouched.
    assert client.get("/v1/me/sharing", headers=BEN_H).json()["items"][0]["hostId"] == BISTRO
    assert_problem(client.delete("/v1/me/hosts/ghost/grants", headers=ANA_H), 404, "UNKNOWN_HOST")
    assert_problem(client.delete("/v1/me/hosts/ghost/grants", headers=CARA_H), 404, "UNKNOWN_HOST")
    assert_problem(client.delete("/v1/me/hosts/-x/grants", headers=ANA_H), 422, "VALIDATION_ERROR")


# -- defaults -------------------------------------------------------------------------------------
def test_defaults(client: TestClient, world: World) -> None:
    resp = client.put(
        "/v1/me/defaults/reservation", headers=ANA_H, json={"fields": ["phoneNumber", "name"]}
    )
    assert resp.json() == {
        "eventType": "reservation",
        "hostId": None,
        "fields": ["name", "phoneNumber"],
    }
    resp = client.put(
        "/v1/me/defaults/reservation", headers=ANA_H, json={"fields": [], "hostId": BISTRO}
    )
    assert resp.status_code == 200
    listed = client.get("/v1/me/defaults", headers=ANA_H).json()["items"]
    assert listed == [
        {"eventType": "reservation", "hostId": None, "fields": ["name", "phoneNumber"]},
        {"eventType": "reservation", "hostId": BISTRO, "fields": []},
    ]
    assert world.sdk.consent.defaults(world.ana)[(EventType.RESERVATION, None)] == {
        DataField.NAME,
        DataField.PHONE_NUMBER,
    }
    assert client.get("/v1/me/defaults", headers=CARA_H).json() == {"items": []}


def test_default_errors(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    assert_problem(
        client.put(
            "/v1/me/defaults/reservation", headers=ANA_H, json={"fields": [], "hostId": "ghost"}
        ),
        404,
        "UNKNOWN_HOST",
    )
    for path, body in (
        ("/v1/me/defaults/brunch", {"fields": []}),
        ("/v1/me/defaults/reservation", {"fields": ["x"]}),
        ("/v1/me/defaults/reservation", {}),
        ("/v1/me/defaults/reservation", {"fields": None}),
    ):
        assert_problem(client.put(path, headers=ANA_H, json=body), 422, "VALIDATION_ERROR")
    assert state(world.sdk) == before


# -- history --------------------------------------------------------------------------------------
def test_history_pages_and_hides_the_agent(client: TestClient, world: World) -> None:
    resp = client.get("/v1/me/history", headers=ANA_H)
    assert resp.status_code == 200
    body = resp.json()
    actions = [e["action"] for e in body["items"]]
    assert actions[:2] == ["agent.created", "profile.updated"]
    assert "registration.created" in actions
    assert body["nextCursor"] is None
    for entry in body["items"]:
        assert set(entry) == {"action", "at", "hostId", "actor", "details", "entryHash", "notices"}
        assert entry["notices"] == []  # no webhook endpoint (tests/webhooks: with one)
    assert world.ana not in resp.text
    # Paging: two at a time, same entries in the same order.
    paged: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/me/history", headers=ANA_H, params=params).json()
        paged += [e["entryHash"] for e in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert paged == [e["entryHash"] for e in body["items"]]
    # Only Ana's entries.
    ben = client.get("/v1/me/history", headers=BEN_H).json()["items"]
    assert not {e["entryHash"] for e in ben} & set(paged)
    assert client.get("/v1/me/history", headers=CARA_H).json() == {"items": [], "nextCursor": None}


def test_history_bad_parameters(client: TestClient, world: World) -> None:
    for params, code in (
        ({"cursor": "zzz"}, "INVALID_INPUT"),
        ({"cursor": "aDEyYQ"}, "INVALID_INPUT"),  # "h12a"
        ({"limit": 0}, "VALIDATION_ERROR"),
        ({"limit": 501}, "VALIDATION_ERROR"),
    ):
        assert_problem(client.get("/v1/me/history", headers=ANA_H, params=params), 422, code)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_history_cursor_outside_the_seq_range_is_422_on_both_backends(
    db_url: str, master_key: str, fake_clock: FakeClock
) -> None:
    """Audit seqs are 64-bit: a larger cursor is refused by the router (it used to reach
    the query: OverflowError on SQLite, StoreError on PostgreSQL, both 500)."""
    with (
        DualId.open(db_url, keys=master_key, clock=fake_clock) as sdk,
        TestClient(make_app(sdk)) as client,
    ):
        sdk.identity.agent_for(ANA)
        for text in ("h" + "9" * 19, f"h{2**63}"):
            assert_problem(
                client.get("/v1/me/history", headers=ANA_H, params={"cursor": _cursor(text)}),
                422,
                "INVALID_INPUT",
            )
        last = client.get(
            "/v1/me/history", headers=ANA_H, params={"cursor": _cursor(f"h{2**63 - 1}")}
        )
        assert last.status_code == 200, last.text
        assert last.json() == {"items": [], "nextCursor": None}


def test_history_shows_support_lookups(client: TestClient, world: World) -> None:
    world.sdk.identity.user_for(world.ana, actor="support", reason="ticket 42")
    items = client.get("/v1/me/history", headers=ANA_H).json()["items"]
    assert items[-1]["action"] == "agent.user_lookup"
    assert items[-1]["actor"] == "support"
    assert items[-1]["details"] == {"reason": "ticket 42"}


# -- erasure ---------------------------------------------------------------------------------------
def test_erase_me(client: TestClient, world: World) -> None:
    resp = client.delete("/v1/me", headers=ANA_H)
    assert resp.status_code == 204
    assert resp.content == b""
    assert world.sdk.identity.lookup(ANA) is None
    items = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers(BISTRO)).json()
    assert [i["name"] for i in items["items"]] == ["Ben Okafor"]
    # the club's event outlives its only attendee: an empty list, not UNKNOWN_EVENT
    resp = client.get("/v1/hosts/me/events/meet-1/attendees", headers=host_headers(CLUB))
    assert resp.status_code == 200
    assert resp.json()["items"] == []
    assert set(client.get("/v1/me/profile", headers=ANA_H).json().values()) == {None}
    # Idempotent, and a person with nothing stored gets the same answer.
    assert client.delete("/v1/me", headers=ANA_H).status_code == 204
    assert client.delete("/v1/me", headers=CARA_H).status_code == 204
    assert world.sdk.audit.verify().ok


def test_user_routes_need_authentication(client: TestClient, world: World) -> None:
    for method, path in (
        ("GET", "/v1/me/profile"),
        ("DELETE", "/v1/me"),
        ("POST", "/v1/me/grants"),
    ):
        resp = client.request(method, path)
        assert_problem(resp, 401, "UNAUTHENTICATED")


def test_overlong_user_id_is_422(client: TestClient, world: World) -> None:
    assert_problem(client.get("/v1/me/profile", headers=uh("u" * 300)), 422, "INVALID_INPUT")
