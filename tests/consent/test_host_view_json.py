"""``events.attendees_page_json``: the host's view as the host API's JSON body, built
straight from the decrypted values. The same read, rules, errors and audit entry as
``attendees_page``; the items are ``host_attendee_json`` of the model's attendees."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualid import DataField, EventType, EventUserData
from dualid._micros import from_us, iso_from_us, to_us
from dualid.consent import _events
from dualid.consent import host_attendee_json as item_of
from dualid.errors import InvalidInput, UnknownEvent, UnknownHost

from ..support import json_view, rows
from .conftest import World

SHARE = {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL}


def _club_night(world: World) -> dict[str, str]:
    """Club night c-1: Ana shares name, email and birthday; Bo name only, then revokes
    his event grant, as does Cy; Di shares an email under a host-wide
    grant plus extras."""
    sdk, host = world.sdk, world.other_host
    cy = sdk.identity.agent_for("user-cy")
    di = sdk.identity.agent_for("user-di")
    sdk.profiles.put(cy, EventUserData(name="Cy Öz"))
    sdk.profiles.put(
        di,
        EventUserData(
            name='Di \u2028 "quoted" \\ tab x',
            email="di@example.org",
            additional_data={
                "diet": "vegan",
                "seat": 12,
                "ratio": 0.5,
                "tags": ["a", "ü"],
                "none": None,
                "deep": {"x": [True, False]},
            },
        ),
    )
    club = EventType.CLUB_EVENT
    sdk.events.register(
        world.ana, host, club, "c-1", share={DataField.NAME, DataField.EMAIL, DataField.BIRTHDAY}
    )
    bo = sdk.events.register(world.bo, host, club, "c-1", share={DataField.NAME})
    cy_reg = sdk.events.register(cy, host, club, "c-1", share={DataField.NAME})
    sdk.events.register(di, host, club, "c-1", share={DataField.NAME})
    sdk.consent.grant(di, host, fields={DataField.EMAIL}, purpose="newsletter")
    assert bo.grant_id is not None
    sdk.consent.revoke(bo.grant_id)
    assert cy_reg.grant_id is not None
    sdk.consent.revoke(cy_reg.grant_id)
    return {"ana": world.ana, "bo": world.bo, "cy": cy, "di": di}


def test_the_json_page_is_the_model_page_as_the_host_api_writes_it(world: World) -> None:
    people = _club_night(world)
    sdk = world.sdk
    items = json_view(sdk, world.other_host, "c-1")  # checks each page against the model's
    assert json_view(sdk, world.other_host, "c-1", limit=1) == items
    by_name = {i.get("name"): i for i in items}
    ana = by_name["Ana Lima"]
    assert set(ana) == {"ref", "name", "email", "birthday", "sharedAt"}
    assert ana["birthday"] == "1990-04-02"
    assert datetime.fromisoformat(ana["sharedAt"]).tzinfo is not None
    # Bo and Cy revoked: a ref and no data, sharedAt null
    bare = [i for i in items if set(i) == {"ref", "sharedAt"}]
    assert len(bare) == 2
    assert all(i["sharedAt"] is None for i in bare)
    di = next(i for i in items if "email" in i and i["email"] == "di@example.org")
    assert di["name"] == 'Di \u2028 "quoted" \\ tab x'
    assert list(di) == ["ref", "name", "email", "sharedAt"]  # the model's order
    assert len({i["ref"] for i in items}) == 4
    raw = sdk.events.attendees_page_json(world.other_host, "c-1", limit=1000)
    assert raw.decode("utf-8")  # UTF-8 bytes
    for agent_id in people.values():  # P1
        assert agent_id.encode() not in raw


def test_extras_reach_the_host_only_under_consent(world: World) -> None:
    sdk, host = world.sdk, world.other_host
    _club_night(world)
    (di,) = [a for a in sdk.events.attendees(host, "c-1") if a.data.email == "di@example.org"]
    assert "additionalData" not in item_of(di)
    people = {a.ref for a in sdk.events.attendees(host, "c-1")}
    items = json_view(sdk, host, "c-1")
    assert {i["ref"] for i in items} == people
    assert all("additionalData" not in i for i in items)


def test_a_read_is_one_audited_host_read_like_the_model_page(world: World) -> None:
    _club_night(world)
    sdk, host = world.sdk, world.other_host

    def reads() -> list[dict]:
        return [e.details for e in sdk.audit.iter() if e.action == "host.read_attendees"]

    before = len(reads())
    sdk.events.attendees_page(host, "c-1", limit=3)
    sdk.events.attendees_page_json(host, "c-1", limit=3)
    model, as_json = reads()[before:]
    for key in ("event_id", "attendees", "fields"):
        assert model[key] == as_json[key]
    assert as_json["attendees"] == 3
    assert sdk.audit.verify().ok


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0}, InvalidInput),
        ({"limit": 1001}, InvalidInput),
        ({"limit": "10"}, InvalidInput),
        ({"cursor": "garbage!"}, InvalidInput),
        ({"event_id": "no-such-event"}, UnknownEvent),
        ({"host_id": "no-such-host"}, UnknownHost),
        ({"host_id": ""}, InvalidInput),
    ],
)
def test_bad_input_is_refused_alike_and_reads_nothing(
    world: World, kwargs: dict, error: type[Exception]
) -> None:
    _club_night(world)
    sdk = world.sdk
    args = {"host_id": world.other_host, "event_id": "c-1", **kwargs}
    host_id, event_id = args.pop("host_id"), args.pop("event_id")
    head = rows(sdk, "SELECT seq FROM dualid_audit_head ORDER BY id")
    with pytest.raises(error) as model:
        sdk.events.attendees_page(host_id, event_id, **args)
    with pytest.raises(error) as as_json:
        sdk.events.attendees_page_json(host_id, event_id, **args)
    assert as_json.value.to_dict() == model.value.to_dict()
    assert rows(sdk, "SELECT seq FROM dualid_audit_head ORDER BY id") == head


def test_without_orjson_the_standard_library_writes_the_same_document(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _club_night(world)
    with_orjson = world.sdk.events.attendees_page_json(world.other_host, "c-1")
    monkeypatch.setattr(_events, "_orjson_dumps", None)
    plain = world.sdk.events.attendees_page_json(world.other_host, "c-1")
    assert json.loads(plain) == json.loads(with_orjson)


def test_json_bytes_takes_what_orjson_refuses() -> None:
    body = {"n": 2**70, "text": "ü"}
    assert json.loads(_events.json_bytes(body)) == body
    assert _events.json_bytes({"a": [1, None]}) == b'{"a":[1,null]}'


_BOUND = to_us(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


@given(st.integers(min_value=to_us(datetime(1, 1, 2, tzinfo=UTC)), max_value=_BOUND))
def test_iso_from_us_is_the_datetimes_isoformat(value: int) -> None:
    assert iso_from_us(value) == from_us(value).isoformat()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 12, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 10, 0, 0, 1, tzinfo=UTC),
        datetime(2028, 2, 29, 23, 59, 59, 500_000, tzinfo=UTC),
    ],
)
def test_iso_from_us_at_the_edges(moment: datetime) -> None:
    assert from_us(to_us(moment)) == moment
    assert iso_from_us(to_us(moment)) == moment.isoformat()
    assert iso_from_us(to_us(moment + timedelta(days=1))) == (moment + timedelta(1)).isoformat()


def test_host_attendee_json_matches_the_models_dump() -> None:
    from dualid.consent import HostAttendee

    data = EventUserData(name="Ana", birthday=date(1990, 5, 17), additional_data={"k": [1]})
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    body = item_of(HostAttendee("r1", data, at))
    dump = data.model_dump(mode="json", by_alias=True, exclude_none=True)
    personal = {k: v for k, v in dump.items() if k not in {"sharedWithHost", "eventType"}}
    assert body == {"ref": "r1", **personal, "sharedAt": at.isoformat()}
