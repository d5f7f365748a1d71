"""Hypothesis strategies for dualid's value types (needs ``hypothesis``).

>>> from hypothesis import given
>>> from dualid.testing import strategies as ds
>>> @given(ds.user_data())
... def test_profile_round_trip(data): ...

Everything drawn is valid input for the SDK: :func:`user_data` builds
:class:`~dualid.EventUserData` through its validators (phones are real mobile numbers of
many countries, emails use the reserved ``example.*`` domains, ``additional_data`` stays
within the size and depth limits), and the id strategies match what the SDK accepts.

Importing :mod:`dualid.testing` never imports this module or hypothesis.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import phonenumbers

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "dualid.testing.strategies needs hypothesis: pip install hypothesis "
        "(or pip install 'dualid[dev]')"
    ) from exc

from dualid.models import DataField, EventType, EventUserData, HostKind

__all__ = [
    "additional_data",
    "birthdays",
    "data_fields",
    "emails",
    "event_ids",
    "event_types",
    "field_sets",
    "host_ids",
    "host_kinds",
    "names",
    "phone_numbers",
    "user_data",
    "user_ids",
]

_REGIONS = ("US", "GB", "DE", "FR", "JP", "BR", "IN", "AU", "NG", "ES", "SE", "PL", "KR", "ZA")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_JSON_KEY_CHARS = _ID_CHARS + "_-"


def event_types() -> st.SearchStrategy[EventType]:
    return st.sampled_from(EventType)


def host_kinds() -> st.SearchStrategy[HostKind]:
    return st.sampled_from(HostKind)


def data_fields() -> st.SearchStrategy[DataField]:
    return st.sampled_from(DataField)


def field_sets(*, min_size: int = 0) -> st.SearchStrategy[frozenset[DataField]]:
    """Sets of :class:`~dualid.DataField`, e.g. what a host requires or a person shares."""
    return st.frozensets(data_fields(), min_size=min_size)


def _ids(first: str, rest: str, max_rest: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, b: a + b,
        st.sampled_from(first),
        st.text(alphabet=rest, max_size=max_rest),
    )


def host_ids() -> st.SearchStrategy[str]:
    """Valid host ids (``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``)."""
    return _ids(_ID_CHARS, _ID_CHARS + "._-", 63)


def event_ids() -> st.SearchStrategy[str]:
    """Valid event ids (``[A-Za-z0-9][A-Za-z0-9._:-]{0,127}``)."""
    return _ids(_ID_CHARS, _ID_CHARS + "._:-", 127)


def user_ids() -> st.SearchStrategy[str]:
    """The platform's own user ids, as :meth:`~dualid.identity.Identity.agent_for` takes."""
    return st.one_of(
        st.builds(lambda n: f"user-{n}", st.integers(min_value=0, max_value=10**12)),
        st.uuids().map(str),
    )


def names() -> st.SearchStrategy[str]:
    """Names in any script, with spaces, hyphens and apostrophes; never blank, never
    with control characters, at most 200 characters after stripping."""
    word = st.text(
        alphabet=st.characters(categories=("Lu", "Ll", "Lt", "Lo", "Mn")), min_size=1, max_size=20
    )
    joiner = st.sampled_from([" ", "-", "'", " "])
    return st.builds(
        lambda first, rest: first + "".join(j + w for j, w in rest),
        word,
        st.lists(st.tuples(joiner, word), max_size=3),
    )


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """Valid mobile numbers in E.164 from many countries."""
    region = draw(st.sampled_from(_REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, region
    digits = str(example.national_number)
    tail = draw(st.integers(min_value=0, max_value=9999))
    number = phonenumbers.parse(f"+{example.country_code}{digits[:-4]}{tail:04d}")
    if not phonenumbers.is_valid_number(number):
        number = example
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def emails() -> st.SearchStrategy[str]:
    """Valid addresses on the reserved ``example.*`` domains."""
    atom = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_+", min_size=1, max_size=16)
    local = st.builds(lambda parts: ".".join(parts), st.lists(atom, min_size=1, max_size=3))
    domain = st.sampled_from(["example.com", "example.org", "example.net"])
    return st.builds(lambda a, d: f"{a}@{d}", local, domain)


def birthdays(*, until: date = date(2020, 12, 31)) -> st.SearchStrategy[date]:
    """Birthdays from 1900 to ``until`` (keep it before the SDK clock's today)."""
    return st.dates(min_value=date(1900, 1, 1), max_value=until)


def additional_data() -> st.SearchStrategy[dict[str, Any]]:
    """Small JSON objects (at most 3 levels deep, well under the 8 KiB limit)."""
    keys = st.text(alphabet=_JSON_KEY_CHARS, min_size=1, max_size=12)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**9), max_value=10**9),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.text(max_size=40),
    )
    leaves = st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(keys, scalars, max_size=4),
    )
    return st.dictionaries(keys, leaves, max_size=6)


def user_data(
    *,
    fields: Iterable[DataField | str] | None = None,
    require: Iterable[DataField | str] = (),
) -> st.SearchStrategy[EventUserData]:
    """Valid profiles. Each field in ``fields`` (default: all) may be present or absent;
    the fields in ``require`` are always present."""
    allowed = frozenset(DataField.parse(f) for f in fields) if fields is not None else None
    required = frozenset(DataField.parse(f) for f in require)
    values: dict[DataField, st.SearchStrategy[Any]] = {
        DataField.NAME: names(),
        DataField.PHONE_NUMBER: phone_numbers(),
        DataField.EMAIL: emails(),
        DataField.BIRTHDAY: birthdays(),
        DataField.COMPANY_AFFILIATION: names(),
        DataField.ADDITIONAL_DATA: additional_data(),
    }
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for field, strategy in values.items():
        if field in required:
            parts[field.value] = strategy
        elif allowed is None or field in allowed:
            parts[field.value] = st.none() | strategy
    return st.fixed_dictionaries(parts).map(lambda kw: EventUserData(**kw))
