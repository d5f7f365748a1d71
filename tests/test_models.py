"""EventUserData and the enums: validation, normalisation, JSON shape (property tests)."""

from __future__ import annotations

import json
import string
from datetime import UTC, date, datetime

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dualid import DataField, EventType, EventUserData, HostKind
from dualid.models import ADDITIONAL_DATA_MAX_BYTES, ADDITIONAL_DATA_MAX_DEPTH

# Valid numbers from many regions and line types, as phonenumbers knows them.
_EXAMPLES = sorted(
    {
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)
_FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
)

phones = st.sampled_from(_EXAMPLES)
printable_text = (
    st.text(
        alphabet=st.characters(min_codepoint=32, blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=60,
    )
    .map(str.strip)
    .filter(bool)
)
emails = st.builds(
    "{}@{}.{}".format,
    st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20),
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=15),
    st.sampled_from(["com", "org", "net", "de", "io"]),
)
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_objects = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        json_leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
).filter(lambda d: _depth(d) <= ADDITIONAL_DATA_MAX_DEPTH)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)

user_data = st.builds(
    EventUserData,
    name=st.none() | printable_text,
    phone_number=st.none() | phones,
    email=st.none() | emails,
    birthday=st.none() | st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    company_affiliation=st.none() | printable_text,
    additional_data=st.none() | json_objects,
    shared_with_host=st.none() | st.text(alphabet=string.ascii_lowercase + "-", min_size=1),
    shared_at=st.none() | aware,
    revoked_at=st.none() | aware,
    event_type=st.none() | st.sampled_from(EventType),
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@given(user_data)
def test_json_by_alias_round_trips(data: EventUserData) -> None:
    encoded = data.model_dump_json(by_alias=True)
    assert EventUserData.model_validate_json(encoded) == data
    # And through a plain dict with camelCase keys, as the apps send it.
    assert EventUserData.model_validate(json.loads(encoded)) == data


@given(user_data)
def test_json_uses_camel_case_aliases(data: EventUserData) -> None:
    keys = set(json.loads(data.model_dump_json(by_alias=True)))
    assert keys == {
        "name",
        "phoneNumber",
        "email",
        "birthday",
        "companyAffiliation",
        "additionalData",
        "sharedWithHost",
        "sharedAt",
        "revokedAt",
        "eventType",
    }


@given(phones, st.sampled_from(_FORMATS))
def test_phone_normalisation_is_e164_and_idempotent(e164: str, fmt: int) -> None:
    written = phonenumbers.format_number(phonenumbers.parse(e164), fmt)
    once = EventUserData(phone_number=written).phone_number
    assert once == e164
    assert EventUserData(phone_number=once).phone_number == once


def test_phone_examples_from_the_design() -> None:
    assert EventUserData(phone_number="+1 415 555 2671").phone_number == "+14155552671"
    assert EventUserData.model_validate({"phoneNumber": "+442079460958"}).phone_number == (
        "+442079460958"
    )


@pytest.mark.parametrize("phone", ["12345", "hello", "+1", "+999 123 456", "+1 415 555 26719999"])
def test_invalid_phone_is_rejected_without_echoing_it(phone: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventUserData(phone_number=phone)
    assert phone not in str(info.value)


@pytest.mark.parametrize("email", ["ana", "ana@", "@example.com", "ana@@example.com", "a b@x.com"])
def test_invalid_email_is_rejected(email: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventUserData(email=email)
    assert email not in str(info.value)


def test_every_field_is_optional() -> None:
    empty = EventUserData()
    assert empty.personal_fields() == set()
    assert empty.model_dump(exclude_none=True) == {}


def test_populate_by_name_and_alias() -> None:
    by_name = EventUserData(company_affiliation="Acme")
    by_alias = EventUserData.model_validate({"companyAffiliation": "Acme"})
    assert by_name == by_alias


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        EventUserData.model_validate({"nickname": "x"})


def test_frozen() -> None:
    data = EventUserData(name="Ana")
    with pytest.raises(ValidationError):
        data.name = "Bea"  # type: ignore[misc]


def test_control_characters_rejected() -> None:
    with pytest.raises(ValidationError):
        EventUserData(name="Ana\x00")
    with pytest.raises(ValidationError):
        EventUserData(company_affiliation="Acme\x1b[31m")


def test_birthday_before_1900_rejected() -> None:
    with pytest.raises(ValidationError):
        EventUserData(birthday=date(1899, 12, 31))
    assert EventUserData(birthday=date(1900, 1, 1)).birthday == date(1900, 1, 1)


def test_additional_data_size_bound() -> None:
    # Exactly at the bound is fine, one byte more is not (compact JSON, UTF-8).
    overhead = len(json.dumps({"k": ""}, separators=(",", ":")))
    at_bound = {"k": "x" * (ADDITIONAL_DATA_MAX_BYTES - overhead)}
    assert EventUserData(additional_data=at_bound).additional_data == at_bound
    with pytest.raises(ValidationError):
        EventUserData(additional_data={"k": "x" * (ADDITIONAL_DATA_MAX_BYTES - overhead + 1)})


def test_additional_data_depth_bound() -> None:
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(ADDITIONAL_DATA_MAX_DEPTH - 1):
        deep = {"d": deep}
    assert EventUserData(additional_data=deep).additional_data == deep
    with pytest.raises(ValidationError):
        EventUserData(additional_data={"d": deep})
    with pytest.raises(ValidationError):
        EventUserData(additional_data={"l": [[[[1]]]]})


@pytest.mark.parametrize(
    "value",
    [b"bytes", {1, 2}, datetime(2020, 1, 1, tzinfo=UTC), float("nan"), float("inf"), object()],
    ids=["bytes", "set", "datetime", "nan", "inf", "object"],
)
def test_additional_data_must_be_json(value: object) -> None:
    with pytest.raises(ValidationError):
        EventUserData(additional_data={"x": value})


def test_additional_data_must_be_an_object() -> None:
    with pytest.raises(ValidationError):
        EventUserData.model_validate({"additionalData": [1, 2]})


def test_repr_hides_personal_data() -> None:
    data = EventUserData(name="Zelda Secret", email="zelda@example.com")
    assert "Zelda" not in repr(data)
    assert "zelda@" not in str(data)
    assert "email" in repr(data)


def test_only_keeps_the_chosen_fields() -> None:
    data = EventUserData(name="Ana", email="ana@example.com", phone_number="+14155552671")
    kept = data.only({DataField.NAME})
    assert kept.personal_fields() == {DataField.NAME}
    assert kept.name == "Ana"


def test_enum_values_are_the_contract() -> None:
    assert [e.value for e in EventType] == [
        "reservation",
        "community_event",
        "club_event",
        "expert_event",
        "business_event",
        "company_event",
    ]
    assert {k.value for k in HostKind} == {"business", "expert", "community", "club", "company"}
    assert {f.value for f in DataField} == {
        "name",
        "phone_number",
        "email",
        "birthday",
        "company_affiliation",
        "additional_data",
    }


@pytest.mark.parametrize("field", list(DataField))
def test_data_field_parse_accepts_value_alias_and_member(field: DataField) -> None:
    assert DataField.parse(field) is field
    assert DataField.parse(field.value) is field
    assert DataField.parse(field.alias) is field


def test_data_field_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        DataField.parse("shoe_size")
