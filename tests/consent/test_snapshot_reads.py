"""Host reads take no lock that writers need (issue 12, item 4): a host read is one
snapshot, and grants and revocations, of other people and of the people being read,
complete while it is held open; its audit entry records the snapshot it read."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dualid import DataField, DualId, EventType

from .conftest import setup_world

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}
HANG_GUARD = 60  # seconds: a hang guard, not a timing assertion


@pytest.fixture
def world(sdk):
    return setup_world(sdk)


def test_writers_complete_while_a_host_read_is_held_open(world, db_url, master_key, clock):
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    sdk.events.register(world.bo, world.host, EventType.RESERVATION, "res-2", share=SHARE)
    reader = threading.current_thread()
    inside = threading.Event()
    release = threading.Event()
    result: dict[str, Any] = {}

    def hold(statement: str) -> None:
        # Hold the read open once its snapshot is taken (at the registrations query).
        if threading.current_thread() is worker and "FROM dualid_registration" in statement:
            inside.set()
            assert release.wait(HANG_GUARD), "the test never released the read"

    def read() -> None:
        result["attendees"] = sdk.events.attendees(world.host, "res-1")

    worker = threading.Thread(target=read)
    assert worker is not reader
    sdk.store.hooks.append(hold)
    try:
        worker.start()
        assert inside.wait(HANG_GUARD)
        # Another instance (its own connections), writing while the read is open: a grant
        # and a revoke for Bo (not being read) and a grant for Ana (being read).
        with DualId.open(db_url, keys=master_key, clock=clock) as writer:
            done = threading.Event()

            def write() -> None:
                g = writer.consent.grant(
                    world.bo, world.host, fields={"email"}, event_id="res-2", purpose="p"
                )
                writer.consent.revoke(g.id)
                writer.consent.grant(
                    world.ana, world.host, fields={"email"}, event_id="res-1", purpose="p"
                )
                done.set()

            writing = threading.Thread(target=write)
            writing.start()
            writing.join(HANG_GUARD)
            assert done.is_set(), "a writer waited for the open host read"
            assert worker.is_alive()  # the read was still open all along
    finally:
        release.set()
        worker.join(HANG_GUARD)
        sdk.store.hooks.remove(hold)
    # The read saw its snapshot: Ana's email grant came after it.
    (ana,) = result["attendees"]
    assert ana.data.email is None
    entries = sdk.audit.entries()
    (read_entry,) = [e for e in entries if e.action == "host.read_attendees"]
    written = [e.seq for e in entries if e.action in ("consent.granted", "consent.revoked")]
    assert read_entry.details["snapshot_seq"] < min(written)
    snapshot = read_entry.details["snapshot"]
    assert all(e.seq > snapshot[e.partition] for e in entries if e.seq in written)
    assert read_entry.seq > max(written)  # logged after the read, in its own transaction
    # a read now sees the grant
    (ana,) = sdk.events.attendees(world.host, "res-1")
    assert ana.data.email == "ana.lima@example.com"
    assert sdk.audit.verify().ok
