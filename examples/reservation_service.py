"""A restaurant reservation service that keeps only agentIds in its own tables.

The service owns its booking data (tables, party sizes, times) in its own SQLite database;
who the guests are lives in dualid. The restaurant (the host) sees, per dinner slot, only
what each guest chose to share with it, under a pairwise reference, never the agentId.

Run it: ``python examples/reservation_service.py`` (everything in a temporary directory).
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dualid import (
    ConsentRequired,
    DataField,
    DualId,
    EventType,
    EventUserData,
    HostKind,
    generate_master_key,
)

HOST = "bistro-7"
SLOT = "dinner-2026-05-01T19:30"
SHOWN = {"name", "phone_number", "email", "additional_data"}  # printed fields

SCHEMA = """
CREATE TABLE dining_table (table_no INTEGER PRIMARY KEY, seats INTEGER NOT NULL);
CREATE TABLE booking (
    booking_id INTEGER PRIMARY KEY,
    agent_id   TEXT NOT NULL,          -- the only reference to a person: opaque
    slot       TEXT NOT NULL,
    table_no   INTEGER NOT NULL REFERENCES dining_table(table_no),
    party_size INTEGER NOT NULL,
    UNIQUE (agent_id, slot)
);
"""


@dataclass(frozen=True)
class Booking:
    booking_id: int
    table_no: int
    party_size: int


class ReservationService:
    """The platform's booking backend. It never stores names, phones or emails."""

    def __init__(self, db_path: Path, sdk: DualId) -> None:
        self.db = sqlite3.connect(db_path)
        self.db.executescript(SCHEMA)
        self.db.executemany(
            "INSERT INTO dining_table VALUES (?, ?)", [(1, 2), (2, 4), (3, 4), (4, 6)]
        )
        self.sdk = sdk

    def book(
        self, user_id: str, party_size: int, *, share: set[DataField] | None = None
    ) -> Booking:
        """Book a table for the slot. ``user_id`` is the platform's login id; the service
        only ever stores the agentId dualid maps it to."""
        agent_id = self.sdk.identity.agent_for(user_id)
        table_no = self._free_table(party_size)
        # dualid first: a missing consent raises before anything is written here.
        self.sdk.events.register(agent_id, HOST, EventType.RESERVATION, SLOT, share=share)
        with self.db:
            cur = self.db.execute(
                "INSERT INTO booking (agent_id, slot, table_no, party_size) VALUES (?, ?, ?, ?)",
                (agent_id, SLOT, table_no, party_size),
            )
        assert cur.lastrowid is not None
        return Booking(cur.lastrowid, table_no, party_size)

    def _free_table(self, party_size: int) -> int:
        row = self.db.execute(
            "SELECT table_no FROM dining_table WHERE seats >= ? AND table_no NOT IN "
            "(SELECT table_no FROM booking WHERE slot = ?) ORDER BY seats LIMIT 1",
            (party_size, SLOT),
        ).fetchone()
        if row is None:
            raise RuntimeError("fully booked")
        return int(row[0])

    def host_guest_list(self) -> list[dict[str, object]]:
        """What the restaurant sees for the slot: its pairwise ref and the shared fields
        of each guest, joined to the service's own data only through dualid."""
        return [
            {"ref": a.ref[:12] + "...", **a.data.model_dump(exclude_none=True, include=SHOWN)}
            for a in self.sdk.events.attendees(HOST, SLOT)
        ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sdk = DualId.open(f"sqlite:///{workdir / 'dualid.db'}", keys=generate_master_key())
        with sdk:
            sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro Seven")
            sdk.hosts.require(
                HOST,
                EventType.RESERVATION,
                required={DataField.NAME, DataField.PHONE_NUMBER},
                optional={DataField.EMAIL, DataField.ADDITIONAL_DATA},
                purpose="table booking and day-of contact",
            )

            # The platform's users and their profiles (stored encrypted by dualid).
            people = {
                "user-ana": EventUserData(
                    name="Ana Lima",
                    phone_number="+1 415 555 2671",
                    email="ana@example.com",
                    additional_data={"dietary": ["vegetarian"]},
                ),
                "user-jurgen": EventUserData(
                    name="Jürgen Weiß", phone_number="+49 151 23456789", email="jw@example.org"
                ),
                "user-yuki": EventUserData(name="Yuki Tanaka", email="yuki@example.net"),
            }
            for user_id, data in people.items():
                sdk.profiles.put(sdk.identity.agent_for(user_id), data)

            service = ReservationService(workdir / "reservations.db", sdk)
            service.book(
                "user-ana",
                2,
                share={DataField.NAME, DataField.PHONE_NUMBER, DataField.ADDITIONAL_DATA},
            )
            service.book("user-jurgen", 4, share={DataField.NAME, DataField.PHONE_NUMBER})
            try:  # Yuki has no phone number on file: the host requires one
                service.book("user-yuki", 2, share={DataField.NAME, DataField.PHONE_NUMBER})
            except ConsentRequired as exc:
                print(f"Yuki's booking refused ({exc.code}): {exc}")

            print(f"\nWhat {HOST} sees for {SLOT}:")
            for guest in service.host_guest_list():
                print("  ", guest)

            # Jürgen also agrees to an email confirmation for this dinner.
            jurgen = sdk.identity.agent_for("user-jurgen")
            grant = sdk.consent.grant(
                jurgen, HOST, fields={DataField.EMAIL}, event_id=SLOT, purpose="confirmation"
            )
            print("\nAfter Jürgen shares his email:")
            for guest in service.host_guest_list():
                print("  ", guest)

            # ... and withdraws it again: the host stops seeing it at once.
            sdk.consent.revoke(grant.id)
            emails = [g.get("email") for g in service.host_guest_list()]
            assert emails == [None, None], emails
            print("\nAfter Jürgen revokes the email grant, the host sees no emails.")

            # The service's own tables hold agentIds and booking facts, nothing personal.
            rows = service.db.execute(
                "SELECT agent_id, table_no, party_size FROM booking ORDER BY booking_id"
            ).fetchall()
            print("\nThe reservation service's own booking table:")
            for row in rows:
                print("  ", row)
            service.db.close()
            dump = (workdir / "reservations.db").read_bytes()
            for data in people.values():
                for value in (data.name, data.phone_number, data.email):
                    assert value is None or value.encode() not in dump
            for guest in sdk.events.attendees(HOST, SLOT):
                assert all(row[0] not in guest.ref for row in rows)  # no agentId to the host
            assert sdk.audit.verify().ok
            print("\nNo personal data in the service's tables; audit chain verified.")


if __name__ == "__main__":
    main()
