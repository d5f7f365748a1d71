"""The module under test: a tiny club-night booking backend built on dualid.

It stores nothing personal itself; it holds the SDK and the club's host id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dualid import DataField, DualId, EventType, HostKind

CLUB = "jazz-cellar"


@dataclass
class ClubNights:
    sdk: DualId

    def open_for_bookings(self) -> None:
        self.sdk.hosts.register(CLUB, kind=HostKind.CLUB, name="The Jazz Cellar", exist_ok=True)
        self.sdk.hosts.require(
            CLUB,
            EventType.CLUB_EVENT,
            required={DataField.NAME},
            optional={DataField.PHONE_NUMBER, DataField.BIRTHDAY},
            purpose="door list",
        )

    def book(self, user_id: str, night: str, *, share_phone: bool = False) -> str:
        """Book ``night`` for the platform user ``user_id``; returns the agentId."""
        agent_id = self.sdk.identity.agent_for(user_id)
        share = {DataField.NAME} | ({DataField.PHONE_NUMBER} if share_phone else set())
        self.sdk.events.register(agent_id, CLUB, EventType.CLUB_EVENT, night, share=share)
        return agent_id

    def share_phone_until(self, agent_id: str, night: str, until: datetime) -> str:
        grant = self.sdk.consent.grant(
            agent_id,
            CLUB,
            fields={DataField.PHONE_NUMBER},
            event_id=night,
            purpose="text if the night is cancelled",
            expires_at=until,
        )
        return grant.id

    def door_list(self, night: str) -> list[tuple[str, str | None]]:
        """(name, phone) per guest, as the club is allowed to see them."""
        return sorted(
            (a.data.name or "?", a.data.phone_number)
            for a in self.sdk.events.attendees(CLUB, night)
        )

    def booked_within(self, night: str, window: timedelta) -> int:
        """How many guests booked ``night`` within ``window`` of now (by the SDK clock)."""
        now = self.sdk.clock.now().time
        return sum(
            1
            for a in self.sdk.events.attendees(CLUB, night)
            if a.shared_at is not None and now - a.shared_at <= window
        )
