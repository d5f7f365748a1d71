"""Value objects of the consent engine.

Objects meant for hosts (:class:`HostAttendee`, :class:`HostRequirement`) never carry an
agentId (P1); objects for the person's own side (:class:`Grant`, :class:`SharedItem`,
:class:`Registration`) carry ids the person's backend already knows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dualid.audit import AuditRecord
from dualid.models import DataField, EventType, EventUserData, HostKind
from dualid.webhooks import HostNotice

__all__ = [
    "Event",
    "Explanation",
    "Grant",
    "GrantState",
    "HistoryEntry",
    "Host",
    "HostAttendee",
    "Registration",
    "Requirement",
    "SealReport",
    "SharedItem",
    "host_attendee_json",
    "json_layout",
]


class GrantState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Host:
    host_id: str
    kind: HostKind
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Event:
    """An event of a host (a reservation slot, a meetup, a conference day): it has one
    event type, fixed when it is created, explicitly (:meth:`Events.create`) or by its
    first registration, and it outlives its registrations.

    .. versionadded:: 0.2.0
    """

    host_id: str
    event_id: str
    event_type: EventType
    title: str | None
    starts_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Requirement:
    """What a host must have (``required``) and may ask for (``optional``) for one event
    type, and why (``purpose``)."""

    host_id: str
    event_type: EventType
    required: frozenset[DataField]
    optional: frozenset[DataField]
    purpose: str
    updated_at: datetime

    @property
    def declared(self) -> frozenset[DataField]:
        return self.required | self.optional


@dataclass(frozen=True)
class Grant:
    """A consent: ``fields`` may be shared with ``host_id`` for ``event_id`` (or, when
    None, for every event of that host, optionally of one ``event_type``)."""

    id: str
    host_id: str
    fields: frozenset[DataField]
    event_id: str | None
    event_type: EventType | None
    purpose: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: GrantState


@dataclass(frozen=True)
class Registration:
    """A person's registration (reservation, attendance) for one event of one host."""

    id: str
    host_id: str
    event_type: EventType
    event_id: str
    created_at: datetime
    shared: frozenset[DataField]
    grant_id: str | None


@dataclass(frozen=True, slots=True)
class HostAttendee:
    """One attendee as a host sees them: a pairwise ``ref`` (stable at this host, unlinkable
    across hosts, P5), the consented ``data`` only (P2), and when sharing began."""

    ref: str
    data: EventUserData
    shared_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """camelCase JSON for host-facing APIs (personal fields that are None omitted)."""
        body = self.data.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {"ref": self.ref, **body, "sharedAt": _iso(self.shared_at)}


_set_ref = vars(HostAttendee)["ref"].__set__
_set_data = vars(HostAttendee)["data"].__set__
_set_shared_at = vars(HostAttendee)["shared_at"].__set__


def host_attendee(ref: str, data: EventUserData, shared_at: datetime | None) -> HostAttendee:
    """``HostAttendee(ref, data, shared_at)`` filling the slots directly instead of going
    through the frozen dataclass ``__init__`` (a host's list builds thousands); the result
    is an ordinary, fully initialised instance."""
    value: HostAttendee = object.__new__(HostAttendee)
    _set_ref(value, ref)
    _set_data(value, data)
    _set_shared_at(value, shared_at)
    return value


# (attribute, JSON name, holds a date) of every personal field, in the model's order: the
# host API's JSON of an attendee, written by hand for the hot path.
_PERSONAL_JSON: tuple[tuple[str, str, bool], ...] = tuple(
    (name, info.alias or name, info.annotation == (date | None))
    for name, info in EventUserData.model_fields.items()
    if name in {f.value for f in DataField}
)


def json_layout(names: tuple[str, ...] | set[str]) -> tuple[tuple[str, str, bool], ...]:
    """The ``(attribute, JSON name, holds a date)`` of the personal fields in ``names``,
    in the order the host API writes them."""
    return tuple(entry for entry in _PERSONAL_JSON if entry[0] in names)


def host_attendee_json(attendee: HostAttendee) -> dict[str, Any]:
    """The host API's JSON of one attendee (what :meth:`HostAttendee.to_json` says of the
    personal fields, ``ref`` and ``sharedAt``), built without a model round trip: the values
    come from the model's ``__dict__`` as they were decrypted (text as it is, a birthday
    as ISO 8601, ``additional_data`` already JSON values)."""
    body: dict[str, Any] = {"ref": attendee.ref}
    values = attendee.data.__dict__
    for name, key, is_date in _PERSONAL_JSON:
        value = values[name]
        if value is not None:
            body[key] = value.isoformat() if is_date else value
    shared_at = attendee.shared_at
    body["sharedAt"] = shared_at.isoformat() if shared_at is not None else None
    return body


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class SharedItem:
    """One line of "what is shared with whom": an active grant, seen by the person."""

    grant_id: str
    host_id: str
    host_name: str
    fields: frozenset[DataField]
    event_id: str | None
    event_type: EventType | None
    purpose: str
    since: datetime
    until: datetime | None
    notice: HostNotice | None = None
    """The notice that told the host of this grant (None when it has no webhook
    endpoint): whether and when it was delivered.

    .. versionadded:: 0.2.0"""


@dataclass(frozen=True)
class HistoryEntry(AuditRecord):
    """One of the person's audit entries (:meth:`Consent.history
    <dualid.consent.Consent.history>`), with the notices the change sent to the host:
    for a revocation, whether and when the host was told to delete the fields (empty
    when the host has no webhook endpoint).

    .. versionadded:: 0.2.0
    """

    notices: tuple[HostNotice, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """Why host X sees (or does not see) field F of a person for event E.

    ``reason`` is one of ``visible``, ``not_registered``, ``not_declared``, ``no_grant``,
    ``revoked``, ``expired``, ``no_value``; ``grant_ids`` the grants behind it;
    ``required`` whether the host's requirement lists the field as required."""

    visible: bool
    reason: str
    field: DataField
    host_id: str
    event_id: str
    grant_ids: tuple[str, ...] = ()
    declared: bool = False
    required: bool = False
    detail: str = ""


@dataclass(frozen=True)
class SealReport:
    """What :meth:`Consent.seal_grants <dualid.consent.Consent.seal_grants>` did: how many
    grants without a MAC it sealed, and the ids of those it refused because the audit log
    does not record them as they stand (they stay untrusted: they share nothing).

    .. versionadded:: 0.2.0
    """

    sealed: int
    refused: tuple[str, ...] = ()
