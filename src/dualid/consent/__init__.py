"""The consent engine: hosts and requirements, registrations, grants, host views."""

from ._consent import Consent
from ._events import AttendeePage, Events
from ._hosts import Hosts
from ._types import (
    Explanation,
    Grant,
    GrantState,
    Host,
    HostAttendee,
    Registration,
    Requirement,
    SharedItem,
)

__all__ = [
    "AttendeePage",
    "Consent",
    "Events",
    "Explanation",
    "Grant",
    "GrantState",
    "Host",
    "HostAttendee",
    "Hosts",
    "Registration",
    "Requirement",
    "SharedItem",
]
