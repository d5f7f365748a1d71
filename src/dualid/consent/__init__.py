"""The consent engine: hosts and requirements, registrations, grants, host views."""

from ._consent import Consent
from ._events import AttendeePage, Events
from ._hosts import Hosts
from ._receipts import verify_receipt
from ._types import (
    Event,
    Explanation,
    Grant,
    GrantState,
    HistoryEntry,
    Host,
    HostAttendee,
    Registration,
    Requirement,
    SealReport,
    SharedItem,
    host_attendee_json,
)

__all__ = [
    "AttendeePage",
    "Consent",
    "Event",
    "Events",
    "Explanation",
    "Grant",
    "GrantState",
    "HistoryEntry",
    "Host",
    "HostAttendee",
    "Hosts",
    "Registration",
    "Requirement",
    "SealReport",
    "SharedItem",
    "host_attendee_json",
    "verify_receipt",
]
