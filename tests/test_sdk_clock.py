"""The SDK stamps everything with its clock; DUALID_NTP_SERVERS gives it an AtomicClock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from dualid import ClockStatus, DualId
from dualid.clock import AtomicClock, SystemClock, system_time
from dualid.testing import FakeClock, FakeNtpServer


def test_default_clock_is_the_system_clock_reported_unsynced(monkeypatch):
    monkeypatch.delenv("DUALID_NTP_SERVERS", raising=False)
    with DualId.open("sqlite://") as sdk:
        assert isinstance(sdk.clock, SystemClock)
        assert sdk.clock.now().status is ClockStatus.UNSYNCED


def test_ntp_servers_env_gives_a_synced_atomic_clock_that_stamps_entries(monkeypatch):
    with FakeNtpServer(offset=3600.0) as server:
        monkeypatch.setenv("DUALID_NTP_SERVERS", server.address)
        with DualId.open("sqlite://") as sdk:
            assert isinstance(sdk.clock, AtomicClock)
            assert sdk.clock.now().status is ClockStatus.SYNCED
            sdk.identity.agent_for("user-1")
            (entry,) = sdk.audit.entries()
            # the entry carries the server's time (an hour ahead), not the system's
            assert entry.at - system_time() > timedelta(minutes=59)
            assert entry.uncertainty_us < 1_000_000
            threads = {t.name for t in threading.enumerate()}
        # close() stops the background poller it started
        assert threads - {t.name for t in threading.enumerate()}


def test_ntp_servers_env_takes_commas_and_or_whitespace(monkeypatch):
    with FakeNtpServer() as a, FakeNtpServer() as b, FakeNtpServer() as c:
        monkeypatch.setenv("DUALID_NTP_SERVERS", f" {a.address},  {b.address} {c.address}")
        with DualId.open("sqlite://") as sdk:
            servers = [s.server for s in sdk.clock.state().servers]
            assert servers == [a.address, b.address, c.address]


def test_a_malformed_ntp_servers_env_is_a_configuration_error_naming_the_entry(monkeypatch):
    import pytest

    from dualid.errors import ConfigurationError

    for spec, named in [("127.0.0.1:123,,x.example", "empty entry"), ("ok.example -x", "'-x'")]:
        monkeypatch.setenv("DUALID_NTP_SERVERS", spec)
        with pytest.raises(ConfigurationError, match="DUALID_NTP_SERVERS") as info:
            DualId.open("sqlite://")
        assert named in str(info.value)


def test_every_stored_timestamp_comes_from_the_injected_clock():
    clock = FakeClock(start=datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC))
    with DualId.open("sqlite://", clock=clock) as sdk:
        agent = sdk.identity.agent_for("user-1")
        sdk.hosts.register("h", kind="club", name="H")
        sdk.hosts.require("h", "club_event", required={"name"}, purpose="p")
        from dualid import EventUserData

        sdk.profiles.put(agent, EventUserData(name="Ana"))
        clock.advance(timedelta(hours=1))
        reg = sdk.events.register(agent, "h", "club_event", "e1", share={"name"})
        assert reg.created_at == clock.true_time
        (attendee,) = sdk.events.attendees("h", "e1")
        assert attendee.shared_at == clock.true_time
        assert {e.at.year for e in sdk.audit.entries()} == {2031}
