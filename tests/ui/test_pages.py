"""The consent and settings pages, page by page and form by form (FastAPI TestClient)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from babel.dates import format_datetime

from dualid import DataField, DualId, EventType, EventUserData, GrantState
from dualid.errors import StoreUnavailable
from dualid.testing import FakeClock
from tests.support import snapshot

from .conftest import ANA, BEN, BISTRO, CLUB, REGISTER, TestClient, csrf_token, make_app

AGENT_ID = re.compile(r"agt_[a-z2-7]{8,}")


def agent_of(sdk: DualId, user_id: str) -> str:
    agent_id = sdk.identity.lookup(user_id)
    assert agent_id is not None
    return agent_id


def confirm(client: TestClient, url: str = REGISTER, **fields: object) -> httpx.Response:
    token = csrf_token(client.get(url).text)
    data = {"csrf_token": token, "action": "confirm", **fields}
    return client.post(url, data=data, follow_redirects=False)


def register_ana(client: TestClient, **fields: object) -> None:
    resp = confirm(client, **fields)
    assert resp.status_code == 303, resp.text


def shared_fields(sdk: DualId, host_id: str = BISTRO, event_id: str = "res-1") -> set[str]:
    (guest,) = sdk.events.attendees(host_id, event_id)
    return set(guest.data.model_dump(exclude_none=True, include={f.value for f in DataField}))


# -- the consent page ------------------------------------------------------------------------
def test_consent_page_shows_host_event_purpose_and_the_values_to_share(client: TestClient) -> None:
    resp = client.get(REGISTER)
    assert resp.status_code == 200
    page = resp.text
    assert "Bistro Seven" in page
    assert "(Business)" in page
    assert "Reservation: res-1" in page
    assert "table booking" in page
    # Required fields show the value that would be shared, from the profile.
    assert "Ana Lima" in page
    assert "+14155552671" in page
    # Optional ones are choices, none ticked; missing values get an input.
    assert re.search(r'<input[^>]+id="share-email"[^>]*>', page)
    assert not re.search(r'<input[^>]+id="share-email"[^>]*checked', page)
    assert 'id="value-email"' in page
    assert 'id="value-birthday" name="value_birthday" type="date"' in page
    # Confirm and decline: the same element and class, equal weight.
    buttons = re.findall(r'<button class="([^"]+)" type="submit" name="action" value="(\w+)"', page)
    assert buttons == [("button", "confirm"), ("button", "decline")]


def test_a_missing_required_value_gets_an_input(client: TestClient) -> None:
    club = f"/privacy/hosts/{CLUB}/events/meet-1/register?type=club_event"
    page = TestClient(client.app, headers={"X-User-Id": BEN}).get(club).text
    assert re.search(r'<label class="field__label" for="value-name">Name</label>', page)
    assert 'autocomplete="name"' in page


def test_optional_fields_are_ticked_only_by_the_persons_own_default(
    client: TestClient, world: DualId
) -> None:
    ana = agent_of(world, ANA)
    world.consent.set_default(ana, EventType.RESERVATION, {DataField.EMAIL})
    page = client.get(REGISTER).text
    assert re.search(r'id="share-email"[^>]*checked', page)
    assert not re.search(r'id="share-birthday"[^>]*checked', page)
    # A default for this host wins over the one for the event type.
    world.consent.set_default(ana, EventType.RESERVATION, {DataField.BIRTHDAY}, host_id=BISTRO)
    page = client.get(REGISTER).text
    assert re.search(r'id="share-birthday"[^>]*checked', page)
    assert not re.search(r'id="share-email"[^>]*checked', page)


@pytest.mark.parametrize("event_type", list(EventType))
def test_there_is_a_consent_page_for_every_event_type(world: DualId, event_type: EventType) -> None:
    world.hosts.require(
        CLUB, event_type, required={DataField.NAME}, optional={DataField.EMAIL}, purpose="x"
    )
    client = TestClient(make_app(world), headers={"X-User-Id": ANA})
    url = f"/privacy/hosts/{CLUB}/events/e-1/register?type={event_type.value}"
    resp = confirm(client, url, share=["email"], value_email="ana@example.org")
    assert resp.status_code == 303
    assert shared_fields(world, CLUB, "e-1") == {"name", "email"}
    assert world.events.get(CLUB, "e-1").event_type is event_type


def test_confirming_registers_and_grants_exactly_what_was_chosen(
    client: TestClient, world: DualId
) -> None:
    resp = confirm(client, share=["email"], value_email="ana@example.org", value_birthday="")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/privacy/?notice=registered"
    assert shared_fields(world) == {"name", "phone_number", "email"}
    (grant,) = world.consent.grants(agent_of(world, ANA))
    assert grant.fields == {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL}
    assert grant.event_id == "res-1"
    assert grant.expires_at is None
    # The value entered on the page was shared, not saved to the profile (not asked to).
    assert world.profiles.get(agent_of(world, ANA)) == EventUserData(
        name="Ana Lima", phone_number="+14155552671"
    )
    notice = client.get(resp.headers["location"]).text
    assert 'role="status"' in notice
    assert "You are registered" in notice


def test_nothing_optional_ticked_shares_the_required_fields_only(
    client: TestClient, world: DualId
) -> None:
    # A value typed for an unticked field is neither shared nor saved.
    register_ana(client, value_email="ana@example.org", save_profile="yes")
    assert shared_fields(world) == {"name", "phone_number"}
    assert world.profiles.get(agent_of(world, ANA)).email is None


def test_entered_values_go_to_the_profile_only_when_asked(
    client: TestClient, world: DualId
) -> None:
    register_ana(client, share=["email"], value_email="ana@example.org", save_profile="yes")
    assert world.profiles.get(agent_of(world, ANA)).email == "ana@example.org"


def test_a_first_time_person_fills_in_everything_and_registers(world: DualId) -> None:
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN})
    resp = confirm(ben, value_name="Ben", value_phone_number="+44 20 7946 0958")
    assert resp.status_code == 303
    (guest,) = world.events.attendees(BISTRO, "res-1")
    assert guest.data.phone_number == "+442079460958"


def test_declining_writes_nothing(client: TestClient, world: DualId) -> None:
    token = csrf_token(client.get(REGISTER).text)
    before = snapshot(world)
    resp = client.post(
        REGISTER,
        data={"csrf_token": token, "action": "decline", "share": ["email"], "value_email": "x@y.z"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/privacy/?notice=declined"
    assert snapshot(world) == before
    # A first-time person who declines is not even given an agentId.
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN})
    token = csrf_token(ben.get(REGISTER).text)
    ben.post(REGISTER, data={"csrf_token": token, "action": "decline"}, follow_redirects=False)
    assert world.identity.lookup(BEN) is None
    assert snapshot(world) == before


def test_a_missing_required_value_is_an_error_tied_to_its_field(world: DualId) -> None:
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN})
    token = csrf_token(ben.get(REGISTER).text)
    before = snapshot(world)
    resp = ben.post(REGISTER, data={"csrf_token": token, "action": "confirm", "value_name": "Ben"})
    assert resp.status_code == 422
    page = resp.text
    assert 'role="alert"' in page
    assert 'href="#value-phone-number"' in page
    assert re.search(
        r'id="value-phone-number"[^>]*aria-describedby="hint-phone-number '
        r'error-phone-number"[^>]*aria-invalid="true"',
        page,
    )
    assert 'id="error-phone-number"' in page
    assert 'value="Ben"' in page  # what was typed is kept
    assert snapshot(world) == before
    assert world.identity.lookup(BEN) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone_number", "not a phone"), ("email", "nope"), ("birthday", "2999-01-01")],
)
def test_a_bad_value_is_refused_and_changes_nothing(world: DualId, field: str, value: str) -> None:
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN})
    token = csrf_token(ben.get(REGISTER).text)
    before = snapshot(world)
    data = {
        "csrf_token": token,
        "action": "confirm",
        "value_name": "Ben",
        "value_phone_number": "+442079460958",
        "share": ["email", "birthday"],
        "value_email": "ben@example.org",
        "value_birthday": "1990-01-01",
    }
    data[f"value_{field}"] = value
    resp = ben.post(REGISTER, data=data)
    assert resp.status_code == 422
    assert f'href="#value-{field.replace("_", "-")}"' in resp.text
    assert snapshot(world) == before


def test_an_optional_field_ticked_without_a_value_is_an_error(
    client: TestClient, world: DualId
) -> None:
    before = snapshot(world)
    resp = confirm(client, share=["email"])
    assert resp.status_code == 422
    assert "or untick it" in resp.text
    assert snapshot(world) == before


def test_the_expiry_chosen_is_the_grants(
    client: TestClient, world: DualId, fake_clock: FakeClock
) -> None:
    page = client.get(REGISTER).text
    assert 'id="expiry-none" name="expiry" value="" checked' in page
    thirty = str(int(timedelta(days=30).total_seconds()))
    assert f'value="{thirty}"' in page
    assert "For 30 days" in page
    register_ana(client, expiry=thirty)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    assert grant.expires_at == fake_clock.now().time + timedelta(days=30)


def test_an_expiry_not_offered_is_refused(client: TestClient, world: DualId) -> None:
    before = snapshot(world)
    resp = confirm(client, expiry="60")
    assert resp.status_code == 422
    assert snapshot(world) == before


def test_the_application_decides_which_expiries_to_offer(world: DualId) -> None:
    def options(host: object, event_type: EventType) -> list[timedelta]:
        return [] if event_type is EventType.RESERVATION else [timedelta(days=7)]

    client = TestClient(make_app(world, expiry_options=options), headers={"X-User-Id": ANA})
    assert 'name="expiry"' not in client.get(REGISTER).text
    club = f"/privacy/hosts/{CLUB}/events/meet-1/register?type=club_event"
    assert "For 7 days" in client.get(club).text


def test_already_registered(client: TestClient, world: DualId) -> None:
    register_ana(client)
    page = client.get(REGISTER)
    assert page.status_code == 200
    assert "You are already registered" in page.text
    assert 'name="action"' not in page.text


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/privacy/hosts/nobody/events/res-1/register?type=reservation", 404),
        ("/privacy/hosts/bistro-7/events/res-1/register?type=picnic", 400),
        ("/privacy/hosts/bistro-7/events/res-1/register", 400),
        ("/privacy/hosts/bistro%207/events/res-1/register?type=reservation", 404),
        ("/privacy/grants/gr_nothere/receipt", 404),
        ("/privacy/withdraw?grant=gr_nothere&field=email", 404),
        ("/privacy/withdraw?host=nobody", 404),
        ("/privacy/withdraw", 404),
    ],
)
def test_bad_links_get_a_page_with_a_clear_status(
    client: TestClient, world: DualId, url: str, status: int
) -> None:
    before = snapshot(world)
    resp = client.get(url)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/html")
    assert "<h1>" in resp.text
    assert "Traceback" not in resp.text
    assert snapshot(world) == before


def test_an_event_of_another_type_is_a_conflict(client: TestClient, world: DualId) -> None:
    world.events.create(BISTRO, "res-1", EventType.RESERVATION)
    resp = client.get(f"/privacy/hosts/{BISTRO}/events/res-1/register?type=club_event")
    assert resp.status_code == 409


def test_authentication_failures_reach_the_application(world: DualId) -> None:
    resp = TestClient(make_app(world)).get("/privacy/")
    assert resp.status_code == 401  # the application's own HTTPException, untouched


# -- CSRF ------------------------------------------------------------------------------------
def test_every_form_refuses_a_post_without_its_token(client: TestClient, world: DualId) -> None:
    register_ana(client)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    posts = [
        (REGISTER, {"action": "confirm"}),
        (REGISTER, {"action": "decline"}),
        ("/privacy/withdraw", {"grant": grant.id, "field": "name"}),
        ("/privacy/withdraw", {"host": BISTRO, "event": "res-1"}),
        ("/privacy/withdraw", {"host": BISTRO}),
        ("/privacy/defaults/reservation", {"share": ["email"]}),
        ("/privacy/export", {}),
        ("/privacy/erase", {"understood": "yes"}),
    ]
    before = snapshot(world)
    for url, data in posts:
        for token in (None, "", "1.forged", csrf_token(client.get("/privacy/").text) + "x"):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            resp = client.post(url, data=body, follow_redirects=False)
            assert resp.status_code == 403, (url, token)
            assert "This form has expired" in resp.text
    assert snapshot(world) == before


def test_a_token_works_only_for_its_person_and_browser(client: TestClient, world: DualId) -> None:
    token = csrf_token(client.get(REGISTER).text)
    before = snapshot(world)
    # Another person, same browser cookie: refused.
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN}, cookies=client.cookies)
    assert ben.post(REGISTER, data={"csrf_token": token, "action": "confirm"}).status_code == 403
    # Same person, another browser (no cookie): refused.
    other = TestClient(client.app, headers={"X-User-Id": ANA})
    assert other.post(REGISTER, data={"csrf_token": token, "action": "confirm"}).status_code == 403
    assert snapshot(world) == before


def test_tokens_expire(client: TestClient, world: DualId, fake_clock: FakeClock) -> None:
    token = csrf_token(client.get(REGISTER).text)
    fake_clock.advance(timedelta(hours=2, seconds=1))
    resp = client.post(REGISTER, data={"csrf_token": token, "action": "confirm"})
    assert resp.status_code == 403
    assert world.events.registrations(agent_of(world, ANA)) == []


def test_the_csrf_cookie_is_strict_and_http_only(client: TestClient) -> None:
    cookie = client.get(REGISTER).headers["set-cookie"]
    assert cookie.startswith("dualid_csrf=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/privacy/" in cookie
    # The cookie is set once; later pages reuse it.
    assert "set-cookie" not in client.get("/privacy/").headers


def test_the_secret_is_shared_by_every_instance_on_one_store(world: DualId) -> None:
    first = TestClient(make_app(world), headers={"X-User-Id": ANA})
    token = csrf_token(first.get(REGISTER).text)
    second = TestClient(make_app(world), headers={"X-User-Id": ANA}, cookies=first.cookies)
    resp = second.post(
        REGISTER, data={"csrf_token": token, "action": "confirm"}, follow_redirects=False
    )
    assert resp.status_code == 303


# -- the settings page -----------------------------------------------------------------------
def test_settings_show_what_is_shared_with_whom_since_and_until(
    client: TestClient, world: DualId, fake_clock: FakeClock
) -> None:
    thirty = str(int(timedelta(days=30).total_seconds()))
    register_ana(client, expiry=thirty)
    club = f"/privacy/hosts/{CLUB}/events/meet-1/register?type=club_event"
    resp = confirm(client, club, share=["email"], value_email="ana@example.org")
    assert resp.status_code == 303
    page = client.get("/privacy/").text
    assert page.index("Bistro Seven") < page.index("Chess Club")
    assert "Reservation: res-1" in page
    assert "Club event: meet-1" in page
    since = format_datetime(fake_clock.now().time, "medium", tzinfo=None, locale="en")
    until = format_datetime(fake_clock.now().time + timedelta(days=30), "medium", locale="en")
    assert f"since {since}, until {until}" in page
    assert "until you stop sharing" in page
    for label in ("Name", "Phone number", "Email address"):
        assert f'<span class="shared__field">{label}</span>' in page
    assert page.count("Stop sharing everything with") == 2


def test_someone_who_shares_nothing_sees_so(world: DualId) -> None:
    page = TestClient(make_app(world), headers={"X-User-Id": BEN}).get("/privacy/").text
    assert "You do not share any data with anyone." in page
    assert "No data is held about you." in page
    assert world.identity.lookup(BEN) is None  # reading created nothing


def _withdraw(client: TestClient, query: dict[str, str]) -> httpx.Response:
    confirm_page = client.get("/privacy/withdraw", params=query)
    assert confirm_page.status_code == 200
    assert "Yes, stop sharing" in confirm_page.text
    assert "No, keep sharing" in confirm_page.text
    token = csrf_token(confirm_page.text)
    return client.post(
        "/privacy/withdraw", data={"csrf_token": token, **query}, follow_redirects=False
    )


def test_withdrawing_one_field_keeps_the_others_as_shared(
    client: TestClient, world: DualId
) -> None:
    register_ana(client, share=["email"], value_email="ana@example.org")
    (grant,) = world.consent.grants(agent_of(world, ANA))
    # Asking is not doing: the confirmation page changes nothing.
    before = snapshot(world)
    client.get("/privacy/withdraw", params={"grant": grant.id, "field": "email"})
    assert snapshot(world) == before
    resp = _withdraw(client, {"grant": grant.id, "field": "email"})
    assert resp.status_code == 303
    (guest,) = world.events.attendees(BISTRO, "res-1")
    assert guest.data.email is None
    assert (guest.data.name, guest.data.phone_number) == ("Ana Lima", "+14155552671")
    # The email given only for this event is gone with the grant; the rest is covered by a
    # grant of the same scope.
    grants = world.consent.grants(agent_of(world, ANA), include_inactive=True)
    assert {g.state for g in grants} == {GrantState.REVOKED, GrantState.ACTIVE}
    (active,) = [g for g in grants if g.state is GrantState.ACTIVE]
    assert active.fields == {DataField.NAME, DataField.PHONE_NUMBER}
    assert active.event_id == "res-1"
    assert world.audit.verify().ok


def test_a_failed_field_withdrawal_leaves_what_the_host_sees_unchanged(
    client: TestClient, world: DualId, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_ana(client, share=["email"], value_email="ana@example.org")
    (grant,) = world.consent.grants(agent_of(world, ANA))
    revoke = world.consent.revoke

    def failing_for_the_old_grant(grant_id: str, **kwargs: object) -> object:
        if grant_id == grant.id:
            raise StoreUnavailable("the database went away")
        return revoke(grant_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.consent, "revoke", failing_for_the_old_grant)
    resp = _withdraw(client, {"grant": grant.id, "field": "email"})
    assert resp.status_code == 503
    assert "Nothing was changed" in resp.text
    assert shared_fields(world) == {"name", "phone_number", "email"}
    assert [g.id for g in world.consent.grants(agent_of(world, ANA))] == [grant.id]


def test_withdrawing_the_last_field_of_a_grant_ends_it(client: TestClient, world: DualId) -> None:
    register_ana(client)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    _withdraw(client, {"grant": grant.id, "field": "name"})
    (grant,) = world.consent.grants(agent_of(world, ANA))
    _withdraw(client, {"grant": grant.id, "field": "phone_number"})
    assert world.consent.grants(agent_of(world, ANA)) == []
    assert shared_fields(world) == set()


def test_withdrawing_an_event_and_a_host(client: TestClient, world: DualId) -> None:
    register_ana(client)
    club = f"/privacy/hosts/{CLUB}/events/meet-1/register?type=club_event"
    assert confirm(client, club).status_code == 303
    assert _withdraw(client, {"host": BISTRO, "event": "res-1"}).status_code == 303
    assert shared_fields(world) == set()
    assert shared_fields(world, CLUB, "meet-1") == {"name"}
    assert _withdraw(client, {"host": CLUB}).status_code == 303
    assert shared_fields(world, CLUB, "meet-1") == set()
    assert "You do not share any data" not in client.get("/privacy/").text  # still registered


def test_another_persons_grant_cannot_be_withdrawn(client: TestClient, world: DualId) -> None:
    register_ana(client)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN})
    world.identity.agent_for(BEN)
    token = csrf_token(ben.get("/privacy/").text)
    before = snapshot(world)
    resp = ben.post(
        "/privacy/withdraw", data={"csrf_token": token, "grant": grant.id, "field": "name"}
    )
    assert resp.status_code == 404
    assert ben.get(f"/privacy/grants/{grant.id}/receipt").status_code == 404
    assert ben.get(f"/privacy/withdraw?grant={grant.id}&field=name").status_code == 404
    assert snapshot(world) == before


def test_defaults_per_event_type(client: TestClient, world: DualId) -> None:
    page = client.get("/privacy/").text
    assert page.count('action="/privacy/defaults/') == len(EventType)
    token = csrf_token(page)
    resp = client.post(
        "/privacy/defaults/club_event",
        data={"csrf_token": token, "share": ["email", "name"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert world.consent.defaults(agent_of(world, ANA)) == {
        (EventType.CLUB_EVENT, None): {DataField.EMAIL, DataField.NAME}
    }
    page = client.get("/privacy/").text
    assert re.search(r'id="default-club-event-email"[^>]*checked', page)
    assert '<span class="default__type">Club event</span>: Name, Email address' in page
    assert '<span class="default__type">Reservation</span>: nothing' in page
    before = snapshot(world)
    bad = client.post("/privacy/defaults/club_event", data={"csrf_token": token, "share": ["x"]})
    assert bad.status_code == 400
    assert client.post("/privacy/defaults/picnic", data={"csrf_token": token}).status_code == 404
    assert snapshot(world) == before


def test_history_lists_the_changes_newest_first(client: TestClient, world: DualId) -> None:
    register_ana(client)
    page = client.get("/privacy/history").text
    assert page.index("You registered for an event") < page.index("Your account was created")
    assert "Bistro Seven" in page
    assert "res-1" in page


def test_receipts_can_be_viewed_and_downloaded(client: TestClient, world: DualId) -> None:
    register_ana(client)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    assert f"/privacy/grants/{grant.id}/receipt" in client.get("/privacy/").text
    page = client.get(f"/privacy/grants/{grant.id}/receipt").text
    assert "The signature is valid" in page
    assert "table booking" in page
    download = client.get(f"/privacy/grants/{grant.id}/receipt.json")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert world.consent.verify_receipt(download.json())


def test_the_export_downloads_everything_without_an_agent_id(
    client: TestClient, world: DualId
) -> None:
    register_ana(client)
    token = csrf_token(client.get("/privacy/").text)
    resp = client.post("/privacy/export", data={"csrf_token": token})
    assert resp.status_code == 200
    assert resp.headers["content-disposition"].startswith('attachment; filename="my-data-')
    doc = resp.json()
    assert doc["format"] == "dualid-export/1"
    assert doc["registrations"]
    assert not AGENT_ID.search(resp.text)


def test_erasure_needs_an_explicit_confirmation(client: TestClient, world: DualId) -> None:
    register_ana(client)
    page = client.get("/privacy/erase").text
    assert 'type="checkbox" id="understood"' in page
    token = csrf_token(page)
    before = snapshot(world)
    refused = client.post("/privacy/erase", data={"csrf_token": token})
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert snapshot(world) == before
    resp = client.post(
        "/privacy/erase", data={"csrf_token": token, "understood": "yes"}, follow_redirects=False
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/privacy/?notice=erased"
    assert world.identity.lookup(ANA) is None
    assert world.events.attendees(BISTRO, "res-1") == []
    assert "No data is held about you." in client.get("/privacy/?notice=erased").text


# -- languages -------------------------------------------------------------------------------
def test_german_from_accept_language_with_dates_in_its_format(
    client: TestClient, fake_clock: FakeClock
) -> None:
    register_ana(client)
    page = client.get("/privacy/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}).text
    assert '<html lang="de">' in page
    assert "Ihre Einstellungen zur Datenfreigabe" in page
    german = format_datetime(fake_clock.now().time, "medium", locale="de")
    assert f"seit {german}" in page
    assert german != format_datetime(fake_clock.now().time, "medium", locale="en")


def test_the_lang_parameter_wins_and_stays_in_links(client: TestClient) -> None:
    page = client.get(REGISTER + "&lang=de", headers={"Accept-Language": "en"}).text
    assert "Bestätigen und teilen" in page
    assert "Nicht anmelden" in page
    assert (
        'action="/privacy/hosts/bistro-7/events/res-1/register?type=reservation&amp;lang=de"'
        in page
    )
    english = client.get(REGISTER, headers={"Accept-Language": "fr, de;q=0"}).text
    assert '<html lang="en">' in english


def test_errors_are_in_the_persons_language(world: DualId) -> None:
    ben = TestClient(make_app(world), headers={"X-User-Id": BEN, "Accept-Language": "de"})
    token = csrf_token(ben.get(REGISTER).text)
    resp = ben.post(REGISTER + "&lang=de", data={"csrf_token": token, "action": "confirm"})
    assert resp.status_code == 422
    assert "Es gibt ein Problem" in resp.text
    assert "Der Anbieter braucht ihn" in resp.text
    missing = ben.get("/privacy/hosts/nobody/events/x/register?type=reservation")
    assert missing.status_code == 404
    assert "Diese Seite wurde nicht gefunden" in missing.text


# -- P1, headers, overriding -------------------------------------------------------------------
def test_p1_no_agent_id_in_any_page(client: TestClient, world: DualId) -> None:
    register_ana(client, share=["email"], value_email="ana@example.org")
    (grant,) = world.consent.grants(agent_of(world, ANA))
    agent_id = agent_of(world, ANA)
    pages = [
        REGISTER,
        f"/privacy/hosts/{CLUB}/events/meet-1/register?type=club_event",
        "/privacy/",
        "/privacy/history",
        f"/privacy/grants/{grant.id}/receipt",
        f"/privacy/grants/{grant.id}/receipt.json",
        f"/privacy/withdraw?grant={grant.id}&field=email",
        f"/privacy/withdraw?host={BISTRO}&event=res-1",
        f"/privacy/withdraw?host={BISTRO}",
        "/privacy/erase",
        "/privacy/grants/gr_nothere/receipt",
    ]
    for url in pages:
        for lang in ("en", "de"):
            resp = client.get(url, params={"lang": lang})
            assert agent_id not in resp.text, url
            assert not AGENT_ID.search(resp.text), url
            assert ANA not in resp.text, url  # nor the userId
            assert all(agent_id not in v for v in resp.headers.values())


def test_pages_are_never_cached_and_run_no_script(client: TestClient) -> None:
    resp = client.get("/privacy/")
    assert resp.headers["cache-control"] == "no-store"
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "<script" not in resp.text


def test_the_stylesheet_has_custom_properties_and_an_etag(client: TestClient) -> None:
    resp = client.get("/privacy/dualid.css")
    assert resp.headers["content-type"].startswith("text/css")
    assert "--dualid-accent:" in resp.text
    again = client.get("/privacy/dualid.css", headers={"If-None-Match": resp.headers["etag"]})
    assert again.status_code == 304


def test_templates_can_be_replaced_one_by_one(world: DualId, tmp_path: Path) -> None:
    (tmp_path / "message.html").write_text(
        '{% extends "base.html" %}{% block content %}<p class="mine">{{ title }}</p>{% endblock %}'
    )
    client = TestClient(
        make_app(world, templates_dir=tmp_path, stylesheets=["/brand.css"], site_name="Acme"),
        headers={"X-User-Id": ANA},
    )
    missing = client.get("/privacy/grants/gr_nothere/receipt").text
    assert '<p class="mine">We could not find this page</p>' in missing
    settings = client.get("/privacy/").text  # the other templates are still dualid's
    assert "Your data-sharing settings" in settings
    assert '<link rel="stylesheet" href="/brand.css">' in settings
    assert "Acme" in settings


def test_unknown_locales_are_refused_at_mount_time(world: DualId) -> None:
    with pytest.raises(ValueError, match="no catalog"):
        make_app(world, locales=("en", "xx"))
    with pytest.raises(ValueError, match="no catalog"):
        make_app(world, default_locale="fr")


def test_json_downloads_are_attachments(client: TestClient, world: DualId) -> None:
    register_ana(client)
    (grant,) = world.consent.grants(agent_of(world, ANA))
    resp = client.get(f"/privacy/grants/{grant.id}/receipt.json")
    assert resp.headers["cache-control"] == "no-store"
    assert json.loads(resp.text)["consent"]["grant_id"] == grant.id
