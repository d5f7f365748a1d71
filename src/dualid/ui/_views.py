"""What the templates show, built from the SDK's objects: plain values, already worded in
the page's language, never an agentId."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from dualid import (
    AuditRecord,
    DataField,
    EventType,
    EventUserData,
    Grant,
    HostKind,
    Registration,
    SharedItem,
)
from dualid.consent import HistoryEntry
from dualid.webhooks import HostNotice, NoticeStatus

from ._i18n import N_, Texts

__all__ = [
    "FIELD_LABELS",
    "EventBlock",
    "HistoryLine",
    "HostBlock",
    "SharedLine",
    "event_type_label",
    "field_label",
    "grant_summary",
    "history_lines",
    "host_blocks",
    "host_kind_label",
    "notice_text",
    "profile_value",
    "receipt_times",
]

FIELD_LABELS: Final[Mapping[DataField, str]] = {
    DataField.NAME: N_("Name"),
    DataField.PHONE_NUMBER: N_("Phone number"),
    DataField.EMAIL: N_("Email address"),
    DataField.BIRTHDAY: N_("Date of birth"),
    DataField.COMPANY_AFFILIATION: N_("Company"),
    DataField.ADDITIONAL_DATA: N_("Additional details"),
}
_EVENT_TYPE_LABELS: Final[Mapping[EventType, str]] = {
    EventType.RESERVATION: N_("Reservation"),
    EventType.COMMUNITY_EVENT: N_("Community event"),
    EventType.CLUB_EVENT: N_("Club event"),
    EventType.EXPERT_EVENT: N_("Expert event"),
    EventType.BUSINESS_EVENT: N_("Business event"),
    EventType.COMPANY_EVENT: N_("Company event"),
}
_HOST_KIND_LABELS: Final[Mapping[HostKind, str]] = {
    HostKind.BUSINESS: N_("Business"),
    HostKind.EXPERT: N_("Expert"),
    HostKind.COMMUNITY: N_("Community"),
    HostKind.CLUB: N_("Club"),
    HostKind.COMPANY: N_("Company"),
}
_ACTION_LABELS: Final[Mapping[str, str]] = {
    "agent.created": N_("Your account was created"),
    "agent.exported": N_("You downloaded your data"),
    "agent.erased": N_("Your data was erased"),
    "agent.reverse_lookup": N_("Support looked up your account"),
    "agent.user_lookup": N_("Support looked up your account"),
    "profile.updated": N_("Your profile was changed"),
    "profile.deleted": N_("Your profile was deleted"),
    "registration.created": N_("You registered for an event"),
    "registration.cancelled": N_("You cancelled a registration"),
    "consent.granted": N_("You agreed to share data"),
    "consent.revoked": N_("You stopped sharing data"),
    "consent.default_set": N_("You changed a default"),
    "consent.receipt_issued": N_("A consent receipt was issued"),
    "consent.expired_purged": N_("Expired shared data was deleted"),
}
_AGENT_ID = re.compile(r"agt_[a-z2-7]{8,}")


def field_label(texts: Texts, value: DataField) -> str:
    return texts.gettext(FIELD_LABELS[value])


def event_type_label(texts: Texts, value: EventType) -> str:
    return texts.gettext(_EVENT_TYPE_LABELS[value])


def host_kind_label(texts: Texts, value: HostKind) -> str:
    return texts.gettext(_HOST_KIND_LABELS[value])


def profile_value(texts: Texts, profile: EventUserData | None, name: DataField) -> str | None:
    """The stored value of one field as the person reads it, or None when there is none."""
    if profile is None:
        return None
    value: Any = getattr(profile, name.value)
    if value is None:
        return None
    if isinstance(value, date):
        return texts.date(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _ordered(fields: Iterable[DataField]) -> list[DataField]:
    chosen = set(fields)
    return [f for f in DataField if f in chosen]


@dataclass
class SharedLine:
    """One field shared under one grant."""

    grant_id: str
    field: DataField
    label: str
    since: str
    until: str | None


@dataclass
class EventBlock:
    """What one host gets for one event (or, ``event_id`` None, for all its events)."""

    event_id: str | None
    heading: str
    registered_at: str | None
    lines: list[SharedLine] = field(default_factory=list)


@dataclass
class HostBlock:
    host_id: str
    name: str
    kind: str
    events: list[EventBlock] = field(default_factory=list)


def host_blocks(
    texts: Texts,
    shared: list[SharedItem],
    registrations: list[Registration],
    host_names: Mapping[str, tuple[str, HostKind]],
    event_titles: Mapping[tuple[str, str], str | None],
) -> list[HostBlock]:
    """The "what is shared with whom" part of the settings page: per host (by name), its
    events (registrations first, oldest first) and its host-wide grants, each with one
    line per field and grant."""
    blocks: dict[str, HostBlock] = {}

    def host_block(host_id: str) -> HostBlock:
        if host_id not in blocks:
            name, kind = host_names[host_id]
            blocks[host_id] = HostBlock(host_id, name, host_kind_label(texts, kind))
        return blocks[host_id]

    events: dict[tuple[str, str | None, EventType | None], EventBlock] = {}
    for reg in registrations:
        title = event_titles.get((reg.host_id, reg.event_id))
        heading = f"{event_type_label(texts, reg.event_type)}: {title or reg.event_id}"
        block = EventBlock(reg.event_id, heading, texts.datetime(reg.created_at))
        events[(reg.host_id, reg.event_id, None)] = block
        host_block(reg.host_id).events.append(block)
    for item in sorted(shared, key=lambda s: (s.since, s.grant_id)):
        if item.event_id is not None:
            key: tuple[str, str | None, EventType | None] = (item.host_id, item.event_id, None)
        else:
            key = (item.host_id, None, item.event_type)
        if key not in events:
            if item.event_id is not None:
                heading = item.event_id
            elif item.event_type is not None:
                heading = texts.gettext("Every event of this type: %(type)s") % {
                    "type": event_type_label(texts, item.event_type)
                }
            else:
                heading = texts.gettext("Every event of this host")
            events[key] = EventBlock(item.event_id, heading, None)
            host_block(item.host_id).events.append(events[key])
        until = texts.datetime(item.until) if item.until is not None else None
        for name in _ordered(item.fields):
            events[key].lines.append(
                SharedLine(
                    item.grant_id,
                    name,
                    field_label(texts, name),
                    texts.datetime(item.since),
                    until,
                )
            )
    return sorted(blocks.values(), key=lambda b: (b.name.casefold(), b.host_id))


@dataclass
class HistoryLine:
    at: str
    what: str
    host: str | None
    fields: list[str]
    event_id: str | None
    notified: list[str] = field(default_factory=list)
    """Whether and when the host was told of the change (its webhook notices)."""


def notice_text(texts: Texts, notice: HostNotice, host_name: str) -> str:
    """One notice to a host, worded for the person: delivered (when), pending, failed."""
    if notice.status is NoticeStatus.DELIVERED and notice.delivered_at is not None:
        return texts.gettext("%(host)s was notified on %(at)s") % {
            "host": host_name,
            "at": texts.datetime(notice.delivered_at),
        }
    if notice.status is NoticeStatus.PENDING:
        return texts.gettext("%(host)s has not been notified yet") % {"host": host_name}
    return texts.gettext("%(host)s could not be notified") % {"host": host_name}


def _no_agent_id(value: Any) -> str | None:
    if isinstance(value, str) and not _AGENT_ID.search(value):
        return value
    return None


def history_lines(
    texts: Texts, records: Sequence[AuditRecord], host_names: Mapping[str, str]
) -> list[HistoryLine]:
    """The person's audit entries, newest first, worded for them. Only the action, time,
    host, event and field names are shown (never the subject: it is the agentId), and
    whether the host was notified of the change."""
    lines = []
    for record in reversed(records):
        details = record.details
        raw_fields = details.get("fields")
        names: list[str] = []
        if isinstance(raw_fields, list):
            for raw in raw_fields:
                try:
                    names.append(field_label(texts, DataField.parse(str(raw))))
                except ValueError:
                    continue
        label = _ACTION_LABELS.get(record.action)
        lines.append(
            HistoryLine(
                at=texts.datetime(record.at),
                what=texts.gettext(label) if label else record.action,
                host=host_names.get(record.host_id or "", record.host_id)
                if record.host_id
                else None,
                fields=names,
                event_id=_no_agent_id(details.get("event_id")),
                notified=[
                    notice_text(texts, n, host_names.get(n.host_id, n.host_id))
                    for n in (record.notices if isinstance(record, HistoryEntry) else ())
                ],
            )
        )
    return lines


def receipt_times(texts: Texts, receipt: Mapping[str, Any]) -> dict[str, str]:
    """The receipt's times in the page's format (ISO strings as signed, read back)."""
    consent = receipt.get("consent", {})
    out = {}
    for key, value in (
        ("issued_at", receipt.get("issued_at")),
        ("granted_at", consent.get("granted_at")),
        ("expires_at", consent.get("expires_at")),
        ("revoked_at", consent.get("revoked_at")),
    ):
        out[key] = texts.datetime(datetime.fromisoformat(value)) if value else ""
    return out


def grant_summary(texts: Texts, grant: Grant, host_name: str) -> dict[str, Any]:
    """One line of the receipts list."""
    return {
        "id": grant.id,
        "host": host_name,
        "fields": [field_label(texts, f) for f in _ordered(grant.fields)],
        "event_id": grant.event_id,
        "state": grant.state.value,
        "created": texts.datetime(grant.created_at),
    }
