"""Request and response bodies of the HTTP API (camelCase JSON).

Requests accept the documented camelCase names only and reject unknown keys; data fields
are named by their camelCase alias (``phoneNumber``). No model here has a place for an
agentId (P1).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StringConstraints,
    create_model,
)
from pydantic.alias_generators import to_camel

from dualid import consent, webhooks
from dualid.clock import ClockStatus
from dualid.models import DataField, EventType, EventUserData, HostKind
from dualid.sdk import EXPORT_FORMAT

__all__ = [
    "EVENT_ID_PATTERN",
    "HOST_ID_PATTERN",
    "Attendee",
    "AttendeePage",
    "Default",
    "DefaultList",
    "DefaultUpdate",
    "DeliveryPage",
    "Export",
    "ExportClock",
    "ExportHost",
    "FieldExplanation",
    "FieldName",
    "Grant",
    "GrantRequest",
    "HistoryEntry",
    "HistoryPage",
    "Host",
    "HostNotice",
    "Problem",
    "Profile",
    "Registration",
    "RegistrationExplanation",
    "RegistrationList",
    "RegistrationRequest",
    "Requirement",
    "RequirementUpdate",
    "RevokeResult",
    "SharedItem",
    "Sharing",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookUpdate",
    "field_names",
]

# The SDK's id rules, restated for the OpenAPI document (a test keeps them in step).
HOST_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
EVENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"

HostId = Annotated[str, StringConstraints(pattern=HOST_ID_PATTERN, max_length=64)]
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN, max_length=128)]
Purpose = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class FieldName(enum.StrEnum):
    """A shareable data field, by its camelCase JSON name."""

    NAME = DataField.NAME.alias
    PHONE_NUMBER = DataField.PHONE_NUMBER.alias
    EMAIL = DataField.EMAIL.alias
    BIRTHDAY = DataField.BIRTHDAY.alias
    COMPANY_AFFILIATION = DataField.COMPANY_AFFILIATION.alias
    ADDITIONAL_DATA = DataField.ADDITIONAL_DATA.alias


FieldList = Annotated[list[FieldName], Field(max_length=2 * len(DataField))]


def field_names(fields: frozenset[DataField] | set[DataField]) -> list[FieldName]:
    """The camelCase names of ``fields``, in the declaration order of :class:`DataField`."""
    return [FieldName(f.alias) for f in DataField if f in fields]


def data_fields(names: list[FieldName] | None) -> list[DataField]:
    return [DataField.parse(n.value) for n in names or ()]


class _In(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, hide_input_in_errors=True
    )


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Problem(BaseModel):
    """Every error: RFC 9457 problem details plus a stable ``code``."""

    type: str = Field(examples=["urn:dualid:problem:unknown-grant"])
    title: str = Field(examples=["Unknown grant"])
    status: int = Field(examples=[404])
    code: str = Field(
        description="Stable machine-readable code; see ErrorCode in the API guide.",
        examples=["UNKNOWN_GRANT"],
    )
    detail: str = Field(examples=["no such grant"])
    fields: list[str] | None = Field(
        default=None,
        description=(
            "Consent errors: the data fields concerned (camelCase). Validation errors: the "
            "request locations that failed (e.g. body.phoneNumber, query.limit)."
        ),
    )


# -- hosts -------------------------------------------------------------------------------
class RequirementUpdate(_In):
    """What the host needs (``required``) and may ask for (``optional``) for one event
    type, and why. Replaces the previous requirement for that event type."""

    required: FieldList = []
    optional: FieldList = []
    purpose: Purpose


class Requirement(_Out):
    event_type: EventType
    required: list[FieldName]
    optional: list[FieldName]
    purpose: str
    updated_at: datetime

    @classmethod
    def of(cls, req: consent.Requirement) -> Requirement:
        return cls(
            event_type=req.event_type,
            required=field_names(req.required),
            optional=field_names(req.optional),
            purpose=req.purpose,
            updated_at=req.updated_at,
        )


class Host(_Out):
    host_id: str
    kind: HostKind
    name: str
    created_at: datetime
    requirements: list[Requirement]

    @classmethod
    def of(cls, host: consent.Host, requirements: dict[EventType, consent.Requirement]) -> Host:
        return cls(
            host_id=host.host_id,
            kind=host.kind,
            name=host.name,
            created_at=host.created_at,
            requirements=[Requirement.of(requirements[e]) for e in EventType if e in requirements],
        )


class WebhookUpdate(_In):
    """Where the host receives its notices: an ``https`` URL on a public address."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


def _output_fields(source: type, *, exclude: frozenset[str]) -> dict[str, Any]:
    """The fields of an output model that mirrors the dataclass ``source``: its fields in
    its order, but those in ``exclude``, each with its type (a tuple as a list: a JSON
    array) and required (a response always carries every key, null or not)."""
    hints = typing.get_type_hints(source)
    out: dict[str, Any] = {}
    for field in dataclasses.fields(source):
        if field.name in exclude:
            continue
        hint = hints[field.name]
        if typing.get_origin(hint) is tuple:
            (item, _) = typing.get_args(hint)  # tuple[X, ...]
            hint = list.__class_getitem__(item)
        out[field.name] = (hint, ...)
    return out


if TYPE_CHECKING:
    _WebhookEndpointFields = _Out
else:
    # Derived from the SDK's own type, so a field added there reaches the HTTP schema (and
    # docs/openapi.json, which tests/fastapi/test_openapi.py compares); the host_id is the
    # caller's own and not repeated, the secret is declared below with its description.
    _WebhookEndpointFields = create_model(
        "_WebhookEndpointFields",
        __base__=_Out,
        **_output_fields(webhooks.WebhookEndpoint, exclude=frozenset({"host_id", "secret"})),
    )


class WebhookEndpoint(_WebhookEndpointFields):
    """The host's webhook endpoint. ``secret`` (``whsec_...``, for the ``v1`` HMAC
    signatures) is returned once, by the call that created the endpoint or rotated its
    secret, and null otherwise. ``publicKeys`` (``whpk_...``) verify the ``v1a`` Ed25519
    signatures: the current key first, then, until ``previousValidUntil``, the previous
    one. ``enabled`` is false once the endpoint answered 410 Gone."""

    secret: str | None = Field(
        default=None, description="Shown once, when created or rotated; null otherwise."
    )

    @classmethod
    def of(cls, endpoint: webhooks.WebhookEndpoint) -> WebhookEndpoint:
        return cls.model_validate(endpoint, from_attributes=True)


class WebhookDelivery(_Out):
    """One notice to the host and how its delivery went. ``id`` is the ``webhook-id``
    header (the idempotency key); ``payload`` the body exactly as sent."""

    id: str
    type: webhooks.NoticeType
    status: webhooks.NoticeStatus
    created_at: datetime
    attempts: int
    last_attempt_at: datetime | None
    last_status: int | None = Field(description="The HTTP status of the last attempt.")
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    payload: dict[str, JsonValue]

    @classmethod
    def of(cls, delivery: webhooks.Delivery) -> WebhookDelivery:
        return cls.model_validate(delivery, from_attributes=True)


class DeliveryPage(_Out):
    items: list[WebhookDelivery]
    next_cursor: str | None


class HostNotice(_Out):
    """A notice the change sent to the host: whether (``status``) and when
    (``deliveredAt``) the host was told."""

    id: str
    host_id: str
    type: webhooks.NoticeType
    status: webhooks.NoticeStatus
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, notice: webhooks.HostNotice) -> HostNotice:
        return cls.model_validate(notice, from_attributes=True)


class Attendee(_Out):
    """One attendee as the host sees them: a pairwise ``ref`` (stable at this host,
    unlinkable across hosts) and only the fields currently consented; absent fields are
    omitted."""

    ref: str
    name: str | None = None
    phone_number: str | None = None
    email: str | None = None
    birthday: date | None = None
    company_affiliation: str | None = None
    additional_data: dict[str, JsonValue] | None = None
    shared_at: datetime | None


class AttendeePage(_Out):
    items: list[Attendee]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )


_PERSONAL: Final[set[str]] = {f.value for f in DataField}
# The JSON of one :class:`Attendee`, built without a model round trip (the hot path); it
# equals ``model_dump(mode="json", by_alias=True, exclude_none=True)`` of the personal
# fields (tested).
attendee_json = consent.host_attendee_json


def attendee_page_json(items: list[consent.HostAttendee], next_cursor: str | None) -> bytes:
    """The body of one :class:`AttendeePage` as UTF-8 JSON bytes, serialised in one pass
    (validating a thousand attendees again through the response model would double the
    cost of the hot path for nothing)."""
    body = {"items": [attendee_json(a) for a in items], "nextCursor": next_cursor}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# -- the person ------------------------------------------------------------------------------
class Profile(_In):
    """The person's personal data; every field optional. On PUT the stored profile is
    replaced: a field left out (or null) is removed."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone_number: str | None = Field(
        default=None, max_length=64, description="Any format; stored as E.164."
    )
    email: EmailStr | None = Field(default=None, max_length=254)
    birthday: date | None = None
    company_affiliation: str | None = Field(default=None, min_length=1, max_length=200)
    additional_data: dict[str, JsonValue] | None = Field(
        default=None, description="A JSON object of at most 8 KiB and 4 levels."
    )

    def to_user_data(self) -> EventUserData:
        """The SDK model (its validators apply: E.164 phones, bounded extras)."""
        return EventUserData(**self.model_dump(exclude_none=True))

    @classmethod
    def of(cls, data: EventUserData | None) -> Profile:
        if data is None:
            return cls()
        values = data.model_dump(mode="json", include=_PERSONAL, exclude_none=True)
        return cls.model_validate({to_camel(k): v for k, v in values.items()})


class SharedItem(_Out):
    grant_id: str
    host_id: str
    host_name: str
    fields: list[FieldName]
    event_id: str | None
    event_type: EventType | None
    purpose: str
    since: datetime
    until: datetime | None
    notice: HostNotice | None = Field(
        default=None, description="How the host was told of this grant (null: no webhook)."
    )

    @classmethod
    def of(cls, item: consent.SharedItem) -> SharedItem:
        return cls(
            grant_id=item.grant_id,
            host_id=item.host_id,
            host_name=item.host_name,
            fields=field_names(item.fields),
            event_id=item.event_id,
            event_type=item.event_type,
            purpose=item.purpose,
            since=item.since,
            until=item.until,
            notice=HostNotice.of(item.notice) if item.notice is not None else None,
        )


class Sharing(_Out):
    """What is shared with whom, since when and until when (active grants only)."""

    items: list[SharedItem]


class RegistrationRequest(_In):
    """Register for an event and share fields with its host. ``share`` null applies the
    person's defaults; ``data`` gives values for this event only (overriding the
    profile)."""

    host_id: HostId
    event_type: EventType
    event_id: EventId
    share: FieldList | None = None
    data: Profile | None = None
    purpose: Purpose | None = None
    expires_at: AwareDatetime | None = None


class Registration(_Out):
    id: str
    host_id: str
    event_type: EventType
    event_id: str
    created_at: datetime
    shared: list[FieldName]
    grant_id: str | None

    @classmethod
    def of(cls, reg: consent.Registration) -> Registration:
        return cls(
            id=reg.id,
            host_id=reg.host_id,
            event_type=reg.event_type,
            event_id=reg.event_id,
            created_at=reg.created_at,
            shared=field_names(reg.shared),
            grant_id=reg.grant_id,
        )


class RegistrationList(_Out):
    items: list[Registration]


class GrantRequest(_In):
    """Consent to share ``fields`` with a host: for one event (``eventId``), every event
    of one type (``eventType``), or every event of the host (neither)."""

    host_id: HostId
    fields: Annotated[list[FieldName], Field(min_length=1, max_length=2 * len(DataField))]
    event_id: EventId | None = None
    event_type: EventType | None = None
    purpose: Purpose
    expires_at: AwareDatetime | None = None


class Grant(_Out):
    id: str
    host_id: str
    fields: list[FieldName]
    event_id: str | None
    event_type: EventType | None
    purpose: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str = Field(description="active, revoked or expired")

    @classmethod
    def of(cls, grant: consent.Grant) -> Grant:
        return cls(
            id=grant.id,
            host_id=grant.host_id,
            fields=field_names(grant.fields),
            event_id=grant.event_id,
            event_type=grant.event_type,
            purpose=grant.purpose,
            created_at=grant.created_at,
            expires_at=grant.expires_at,
            revoked_at=grant.revoked_at,
            state=grant.state.value,
        )


class RevokeResult(_Out):
    revoked: int = Field(description="How many grants ended.")


class DefaultUpdate(_In):
    """What to share by default for an event type; with ``hostId``, for that host only
    (taking precedence over the per-event-type default). An empty list shares nothing."""

    fields: FieldList
    host_id: HostId | None = None


class Default(_Out):
    event_type: EventType
    host_id: str | None
    fields: list[FieldName]


class DefaultList(_Out):
    items: list[Default]


class HistoryEntry(_Out):
    """One entry of the person's audit trail. ``details`` is recorded by the SDK
    (snake_case keys); it holds field names, host, event and grant ids, counts: never
    personal data."""

    action: str
    at: datetime
    host_id: str | None
    actor: str | None
    details: dict[str, JsonValue]
    entry_hash: str
    notices: list[HostNotice] = Field(
        default=[],
        description="The notices the change sent to the host: for a revocation, whether "
        "and when the host was told to delete the fields.",
    )


class HistoryPage(_Out):
    items: list[HistoryEntry]
    next_cursor: str | None


class FieldExplanation(_Out):
    """Why the host sees, or does not see, one field of the person for one event."""

    field: FieldName
    visible: bool
    reason: str = Field(
        description="visible, not_declared (the host did not ask for it), no_grant, revoked, "
        "expired, or no_value (consented, but no value was shared)",
        examples=["visible"],
    )
    declared: bool = Field(description="The host's requirement lists the field.")
    required: bool = Field(description="The host's requirement lists it as required.")
    grant_ids: list[str] = Field(description="The grants behind the answer.")
    detail: str

    @classmethod
    def of(cls, explanation: consent.Explanation) -> FieldExplanation:
        return cls(
            field=FieldName(explanation.field.alias),
            visible=explanation.visible,
            reason=explanation.reason,
            declared=explanation.declared,
            required=explanation.required,
            grant_ids=list(explanation.grant_ids),
            detail=explanation.detail,
        )


class RegistrationExplanation(_Out):
    """One explanation per data field, in the order of :class:`FieldName`."""

    registration_id: str
    host_id: str
    event_type: EventType
    event_id: str
    items: list[FieldExplanation]


# -- the export (GDPR Art. 15 and 20) ----------------------------------------------------------
class ExportClock(_Out):
    status: ClockStatus
    uncertainty_ms: float = Field(description="The clock's error bound at the export.")


class ExportHost(_Out):
    host_id: str
    name: str
    kind: HostKind


class Export(_Out):
    """Everything dualid holds about the person, as ``sdk.export()`` returns it: the right
    of access and to data portability (GDPR Art. 15 and 20). It holds no agentId, not even
    the person's own, and nothing of other people."""

    format: str = Field(description="The document's format and version.", examples=[EXPORT_FORMAT])
    exported_at: datetime
    clock: ExportClock
    profile: Profile | None = Field(description="The stored values; null when none.")
    hosts: list[ExportHost] = Field(description="The hosts named anywhere in the document.")
    registrations: list[Registration]
    grants: list[Grant] = Field(description="Every grant: active, revoked and expired.")
    defaults: list[Default]
    history: list[HistoryEntry] = Field(description="The person's audit trail, oldest first.")
    receipts: list[dict[str, JsonValue]] = Field(
        description="A signed consent receipt per grant, exactly as signed (snake_case keys, "
        "Ed25519); see GET /me/grants/{grant_id}/receipt."
    )
