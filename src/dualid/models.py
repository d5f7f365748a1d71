"""Value types shared by every part of dualid.

:class:`EventUserData` is the one model of optional personal data used by all event
types; :class:`DataField` names its shareable fields; :class:`EventType` and
:class:`HostKind` classify events and hosts.
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_extra_types.phone_numbers import PhoneNumberValidator

__all__ = [
    "ADDITIONAL_DATA_MAX_BYTES",
    "ADDITIONAL_DATA_MAX_DEPTH",
    "DataField",
    "EventType",
    "EventUserData",
    "HostKind",
]

ADDITIONAL_DATA_MAX_BYTES: Final = 8 * 1024
"""Largest accepted ``additional_data``, measured as compact JSON (UTF-8 bytes)."""

ADDITIONAL_DATA_MAX_DEPTH: Final = 4
"""Deepest accepted nesting of ``additional_data`` (the top-level object is depth 1)."""


class EventType(enum.StrEnum):
    """The kinds of events and reservations dualid serves."""

    RESERVATION = "reservation"
    COMMUNITY_EVENT = "community_event"
    CLUB_EVENT = "club_event"
    EXPERT_EVENT = "expert_event"
    BUSINESS_EVENT = "business_event"
    COMPANY_EVENT = "company_event"


class HostKind(enum.StrEnum):
    """Who runs an event: the party that receives shared data."""

    BUSINESS = "business"
    EXPERT = "expert"
    COMMUNITY = "community"
    CLUB = "club"
    COMPANY = "company"


class DataField(enum.StrEnum):
    """A shareable field of :class:`EventUserData`; the value is the attribute name."""

    NAME = "name"
    PHONE_NUMBER = "phone_number"
    EMAIL = "email"
    BIRTHDAY = "birthday"
    COMPANY_AFFILIATION = "company_affiliation"
    ADDITIONAL_DATA = "additional_data"

    @property
    def alias(self) -> str:
        """The camelCase JSON name (``phoneNumber``)."""
        return to_camel(self.value)

    @classmethod
    def parse(cls, value: str | DataField) -> DataField:
        """Accept a member, its snake_case value or its camelCase alias."""
        if isinstance(value, DataField):
            return value
        for member in cls:
            if value in (member.value, member.alias):
                return member
        raise ValueError(f"unknown data field {value!r}")


PhoneE164 = Annotated[str, PhoneNumberValidator(number_format="E164")]


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class EventUserData(BaseModel):
    """Optional personal data about one person, as stored (a profile) or as shared with a
    host for one event (a snapshot: ``shared_with_host``, ``shared_at`` and ``event_type``
    set).

    Every field is optional. Phones are normalised to E.164 (``+14155552671``), emails are
    validated, ``additional_data`` is a JSON object of at most
    :data:`ADDITIONAL_DATA_MAX_BYTES` and :data:`ADDITIONAL_DATA_MAX_DEPTH` levels. JSON uses
    camelCase names::

        >>> EventUserData(name="Ana", phone_number="+1 415 555 2671").phone_number
        '+14155552671'
        >>> EventUserData.model_validate({"phoneNumber": "+442079460958"}).phone_number
        '+442079460958'
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
        hide_input_in_errors=True,
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone_number: PhoneE164 | None = None
    email: EmailStr | None = Field(default=None, max_length=254)
    birthday: date | None = None
    company_affiliation: str | None = Field(default=None, min_length=1, max_length=200)
    additional_data: dict[str, JsonValue] | None = None
    shared_with_host: str | None = None
    shared_at: datetime | None = None
    revoked_at: datetime | None = None
    event_type: EventType | None = None

    @field_validator("name", "company_affiliation")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("birthday")
    @classmethod
    def _plausible_birthday(cls, value: date | None) -> date | None:
        # The "not in the future" check needs the SDK's clock and happens on write; here
        # only what is wrong at any time.
        if value is not None and value.year < 1900:
            raise ValueError("birthday before 1900")
        return value

    @field_validator("additional_data")
    @classmethod
    def _bounded(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if value is None:
            return None
        try:
            # allow_nan=False: NaN and Infinity are not JSON (they would not round-trip).
            encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise ValueError("additional_data must be JSON: no NaN or Infinity") from None
        if len(encoded.encode()) > ADDITIONAL_DATA_MAX_BYTES:
            raise ValueError(f"additional_data larger than {ADDITIONAL_DATA_MAX_BYTES} bytes")
        if _depth(value) > ADDITIONAL_DATA_MAX_DEPTH:
            raise ValueError(f"additional_data nested deeper than {ADDITIONAL_DATA_MAX_DEPTH}")
        return value

    @classmethod
    def _trusted(cls, values: dict[str, Any], fields_set: set[str] | None = None) -> EventUserData:
        """Build an instance from values that were validated before (decrypted from the
        store: AES-GCM guarantees they are what was written) without validating again.
        ``values`` must map every field name; it becomes the instance's ``__dict__``.
        This is :meth:`model_construct` without its per-field bookkeeping: the host view
        builds thousands of these per request."""
        obj = cls.__new__(cls)
        _set_dict(obj, values)
        if fields_set is None:
            fields_set = {k for k, v in values.items() if v is not None}
        _set_fields_set(obj, fields_set)
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj

    def personal_fields(self) -> set[DataField]:
        """The :class:`DataField` members that hold a value."""
        return {f for f in DataField if getattr(self, f.value) is not None}

    def only(self, fields: set[DataField] | frozenset[DataField]) -> EventUserData:
        """A copy keeping only ``fields`` (other personal fields cleared)."""
        cleared = {f.value: None for f in DataField if f not in fields}
        return self.model_copy(update=cleared)

    def __repr__(self) -> str:
        # Personal data stays out of reprs (and so out of logs and tracebacks).
        present = sorted(f.value for f in self.personal_fields())
        return f"EventUserData(fields={present}, event_type={self.event_type})"

    __str__ = __repr__


# The slots :meth:`EventUserData._trusted` fills, set through their descriptors (as
# ``object.__setattr__`` would, without looking each one up by name per instance).
_set_dict = vars(BaseModel)["__dict__"].__set__
_set_fields_set = vars(BaseModel)["__pydantic_fields_set__"].__set__
_set_extra = vars(BaseModel)["__pydantic_extra__"].__set__
_set_private = vars(BaseModel)["__pydantic_private__"].__set__
