"""The host router: every route, every documented error."""

from __future__ import annotations

from starlette.testclient import TestClient

from dualid import DataField, EventType, HostKind

from .conftest import BISTRO, CLUB, World, host_headers, state, user_headers

BISTRO_H = host_headers(BISTRO)


def assert_problem(resp: object, status: int, code: str) -> dict[str, object]:
    from httpx import Response

    assert isinstance(resp, Response)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "urn:dualid:problem:" + code.lower().replace("_", "-")
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert set(body) <= {"type", "title", "status", "code", "detail", "fields"}
    return body


def test_get_host(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me", headers=BISTRO_H)
    assert resp.status_code == 200
    body = resp.json()
    assert body["hostId"] == BISTRO
    assert body["kind"] == "business"
    assert body["name"] == "Bistro Seven"
    assert body["createdAt"].startswith("2026-")
    (req,) = body["requirements"]
    assert req["eventType"] == "reservation"
    assert req["required"] == ["name", "phoneNumber"]
    assert req["optional"] == ["email", "additionalData"]


def test_get_host_unregistered_is_404(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me", headers=host_headers("nobody"))
    assert_problem(resp, 404, "UNKNOWN_HOST")


def test_missing_authentication_is_401_problem(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me")
    assert_problem(resp, 401, "UNAUTHENTICATED")
    assert resp.headers["www-authenticate"] == "X-Host-Id"


def test_get_requirement(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me/requirements/reservation", headers=BISTRO_H)
    assert resp.status_code == 200
    body = resp.json()
    assert body == {
        "eventType": "reservation",
        "required": ["name", "phoneNumber"],
        "optional": ["email", "additionalData"],
        "purpose": "table booking",
        "updatedAt": body["updatedAt"],
    }


def test_get_requirement_not_declared_is_404(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me/requirements/club_event", headers=BISTRO_H)
    assert_problem(resp, 404, "UNKNOWN_REQUIREMENT")


def test_get_requirement_unknown_event_type_is_422(client: TestClient, world: World) -> None:
    body = assert_problem(
        client.get("/v1/hosts/me/requirements/party", headers=BISTRO_H), 422, "VALIDATION_ERROR"
    )
    assert body["fields"] == ["path.event_type"]


def test_put_requirement_creates_and_replaces(client: TestClient, world: World) -> None:
    url = "/v1/hosts/me/requirements/business_event"
    resp = client.put(
        url,
        headers=BISTRO_H,
        json={"required": ["name", "companyAffiliation"], "optional": ["email"], "purpose": "b2b"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["required"] == ["name", "companyAffiliation"]
    resp = client.put(url, headers=BISTRO_H, json={"optional": ["name"], "purpose": "again"})
    assert resp.json()["required"] == []
    assert resp.json()["optional"] == ["name"]
    req = world.sdk.hosts.requirement(BISTRO, EventType.BUSINESS_EVENT)
    assert req is not None
    assert req.optional == {DataField.NAME}


def test_put_requirement_required_wins_over_optional(client: TestClient, world: World) -> None:
    resp = client.put(
        "/v1/hosts/me/requirements/reservation",
        headers=BISTRO_H,
        json={"required": ["name"], "optional": ["name", "email"], "purpose": "p"},
    )
    assert resp.json()["required"] == ["name"]
    assert resp.json()["optional"] == ["email"]


def test_put_requirement_errors_change_nothing(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    url = "/v1/hosts/me/requirements/reservation"
    cases = [
        ({"required": ["name"], "purpose": "   "}, "INVALID_INPUT"),
        ({"required": ["nickname"], "purpose": "p"}, "VALIDATION_ERROR"),
        ({"required": ["phone_number"], "purpose": "p"}, "VALIDATION_ERROR"),
        ({"required": "name", "purpose": "p"}, "VALIDATION_ERROR"),
        ({"required": ["name"]}, "VALIDATION_ERROR"),
        ({"required": ["name"], "purpose": "p", "hostId": CLUB}, "VALIDATION_ERROR"),
        ({"purpose": "x" * 501}, "VALIDATION_ERROR"),
    ]
    for body, code in cases:
        assert_problem(client.put(url, headers=BISTRO_H, json=body), 422, code)
    assert_problem(
        client.put(url, headers=host_headers("nobody"), json={"purpose": "p"}), 404, "UNKNOWN_HOST"
    )
    assert state(world.sdk) == before


def test_attendees_show_only_consented_fields(client: TestClient, world: World) -> None:
    resp = client.get("/v1/hosts/me/events/res-1/attendees", headers=BISTRO_H)
    assert resp.status_code == 200
    body = resp.json()
    assert body["nextCursor"] is None
    by_name = {item["name"]: item for item in body["items"]}
    ana = by_name["Ana Lima"]
    assert set(ana) == {"ref", "name", "phoneNumber", "email", "sharedAt"}
    assert ana["phoneNumber"] == "+14155552671"
    assert ana["ref"].startswith("ref_")
    ben = by_name["Ben Okafor"]
    assert set(ben) == {"ref", "name", "phoneNumber", "sharedAt"}


def test_attendees_refs_are_pairwise(client: TestClient, world: World) -> None:
    bistro = client.get("/v1/hosts/me/events/res-1/attendees", headers=BISTRO_H).json()
    club = client.get("/v1/hosts/me/events/meet-1/attendees", headers=host_headers(CLUB)).json()
    (ana_at_club,) = club["items"]
    assert set(ana_at_club) == {"ref", "name", "birthday", "sharedAt"}
    assert ana_at_club["birthday"] == "1990-04-02"
    assert ana_at_club["ref"] not in {i["ref"] for i in bistro["items"]}
    again = client.get("/v1/hosts/me/events/res-1/attendees", headers=BISTRO_H).json()
    assert again["items"] == bistro["items"]


def test_attendees_after_revocation(client: TestClient, world: World) -> None:
    client.delete(f"/v1/me/grants/{world.ana_grant}", headers=user_headers("user-ana"))
    items = client.get("/v1/hosts/me/events/res-1/attendees", headers=BISTRO_H).json()["items"]
    shown = [set(i) for i in items]
    assert {"ref", "sharedAt"} in shown  # Ana: still registered, nothing shared
    assert all("Ana Lima" not in str(i) for i in items)
    # docs/api.md: only `ref` and `"sharedAt": null`; whoever still shares has a time.
    (withdrawn,) = [i for i in items if set(i) == {"ref", "sharedAt"}]
    assert withdrawn["sharedAt"] is None
    assert all(i["sharedAt"] for i in items if i is not withdrawn)


def test_attendees_paging_is_stable_and_complete(client: TestClient, world: World) -> None:
    sdk = world.sdk
    for n in range(7):
        agent = sdk.identity.agent_for(f"guest-{n}")
        sdk.events.register(
            agent,
            BISTRO,
            EventType.RESERVATION,
            "res-2",
            share={"name", "phone_number"},
            data=world.sdk.profiles.get(world.ben),
        )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = client.get(
            "/v1/hosts/me/events/res-2/attendees", headers=BISTRO_H, params=params
        ).json()
        seen += [i["ref"] for i in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    full = client.get(
        "/v1/hosts/me/events/res-2/attendees", headers=BISTRO_H, params={"limit": 1000}
    ).json()
    assert [i["ref"] for i in full["items"]] == seen
    # An empty cursor means "from the start".
    first = client.get(
        "/v1/hosts/me/events/res-2/attendees", headers=BISTRO_H, params={"cursor": "", "limit": 3}
    ).json()
    assert [i["ref"] for i in first["items"]] == seen[:3]


def test_attendees_of_another_hosts_event_is_404(client: TestClient, world: World) -> None:
    unknown = client.get("/v1/hosts/me/events/no-such-event/attendees", headers=BISTRO_H)
    other = client.get("/v1/hosts/me/events/meet-1/attendees", headers=BISTRO_H)
    a = assert_problem(unknown, 404, "UNKNOWN_EVENT")
    b = assert_problem(other, 404, "UNKNOWN_EVENT")
    assert a == b  # no existence oracle


def test_attendees_bad_parameters(client: TestClient, world: World) -> None:
    base = "/v1/hosts/me/events/res-1/attendees"
    for params, code in [
        ({"limit": 0}, "VALIDATION_ERROR"),
        ({"limit": 1001}, "VALIDATION_ERROR"),
        ({"limit": "ten"}, "VALIDATION_ERROR"),
        ({"cursor": "!!!"}, "INVALID_INPUT"),
        ({"cursor": "x" * 201}, "VALIDATION_ERROR"),
    ]:
        assert_problem(client.get(base, headers=BISTRO_H, params=params), 422, code)
    bad_event = client.get("/v1/hosts/me/events/%20bad/attendees", headers=BISTRO_H)
    assert_problem(bad_event, 422, "VALIDATION_ERROR")


def test_unregistered_host_sees_no_attendees(client: TestClient, world: World) -> None:
    world.sdk.hosts.register("other", kind=HostKind.EXPERT, name="Other")
    resp = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers("other"))
    assert_problem(resp, 404, "UNKNOWN_EVENT")
    resp = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers("ghost"))
    assert_problem(resp, 404, "UNKNOWN_HOST")


def test_attendee_json_is_the_models_json_of_every_personal_field() -> None:
    """The host list's hand-written JSON (``attendee_json``, the hot path) says exactly
    what pydantic's dump of the model says, for every field and for absent ones."""
    from datetime import UTC, date, datetime

    from dualid import EventUserData
    from dualid.consent import HostAttendee
    from dualid.fastapi._schemas import Attendee, attendee_json, attendee_page_json

    full = EventUserData(
        name="Ana Lima",
        phone_number="+14155552671",
        email="ana@example.org",
        birthday=date(1990, 5, 17),
        company_affiliation="Acme",
        additional_data={"diet": "vegan", "seat": 12, "tags": ["a", "ü"], "x": None},
    )
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    cases = [
        HostAttendee("ref_a", full, at),
        HostAttendee("ref_b", EventUserData(email="b@example.org"), at),
        HostAttendee("ref_c", EventUserData(), None),
    ]
    for attendee in cases:
        expected = Attendee.model_validate(
            {"ref": attendee.ref, **attendee.data.model_dump(), "shared_at": attendee.shared_at}
        ).model_dump(mode="json", by_alias=True, exclude_none=True)
        # sharedAt as the router has always written it (isoformat, "+00:00")
        expected["sharedAt"] = attendee.shared_at.isoformat() if attendee.shared_at else None
        assert attendee_json(attendee) == expected
    import json

    page = json.loads(attendee_page_json(cases, "next"))
    assert page == {"items": [attendee_json(a) for a in cases], "nextCursor": "next"}
