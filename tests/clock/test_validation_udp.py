"""Every bad-reply case against a FakeNtpServer over real UDP on loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dualid.clock import AtomicClock, ClockStatus
from dualid.testing import FakeNtpServer


@pytest.mark.parametrize(
    ("bogus", "error"),
    [
        ("mode3", "mode"),
        ("mode5", "mode"),
        ("version0", "version"),
        ("stratum0", "kod"),
        ("stratum16", "stratum"),
        ("li3", "unsynchronized"),
        ("origin_mismatch", "origin"),
        ("zero_tx", "zero_timestamp"),
        ("zero_rx", "zero_timestamp"),
        ("zero_ref", "zero_timestamp"),
        ("root_distance", "root_distance"),
        ("tx_before_rx", "causality"),
        ("garbage", None),
        ("short", "short"),
        ("silent", "timeout"),
    ],
)
def test_bad_reply_is_refused(
    bogus: str,
    error: str | None,
    servers: Callable[..., FakeNtpServer],
    make_clock: Callable[..., AtomicClock],
) -> None:
    server = servers(offset=5.0, bogus=bogus)
    clock = make_clock([server.address], timeout=0.3)
    report = clock.sync()
    assert not report.ok
    assert report.error == "no usable replies"
    assert server.received == report.packets_sent == 2
    (status,) = report.servers
    assert status.reach == 0
    assert status.offset is None
    assert status.last_error is not None
    if error is not None:
        assert status.last_error.startswith(error)
    reading = clock.now()
    assert reading.status is ClockStatus.UNSYNCED
    assert reading.uncertainty.total_seconds() >= 10


def test_one_bad_server_among_good_ones_does_not_matter(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    good = [servers(offset=1.0), servers(offset=1.0)]
    bad = servers(offset=1.0, bogus="origin_mismatch")
    clock = make_clock([g.address for g in good] + [bad.address])
    report = clock.sync()
    assert report.ok
    assert abs(report.offset - 1.0) < 0.05  # type: ignore[operator]
    assert {s.server: s.selection for s in report.servers}[bad.address] == "unreachable"


def test_duplicated_reply_counts_once(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(offset=0.5, bogus="duplicate")
    clock = make_clock([server.address], burst=1)
    report = clock.sync()
    assert report.ok
    assert server.wait_for(replies=2)  # the copy may leave after the client is done
    assert server.replies == 2
    assert len(clock._servers[0].filter) == 1


def test_replayed_reply_is_a_duplicate(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(offset=0.5, bogus="replay")
    clock = make_clock([server.address], burst=1)
    assert clock.sync().ok  # the first reply is genuine
    report = clock.sync()
    assert not report.ok
    assert report.servers[0].last_error.startswith("duplicate")  # type: ignore[union-attr]


def test_lost_packets_time_out(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(loss=1.0)
    clock = make_clock([server.address], timeout=0.2)
    report = clock.sync()
    assert not report.ok
    assert server.received == 2
    assert server.wait_for(received=2, timeout=0.05)
    assert not server.wait_for(replies=1, timeout=0.05)  # nothing ever goes out
    assert server.replies == 0
    assert report.servers[0].last_error == "timeout"


@pytest.mark.parametrize("code", ["DENY", "RSTR"])
def test_deny_and_rstr_drop_the_server(
    code: str, servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(kiss=code)
    clock = make_clock([server.address])
    report = clock.sync()
    assert not report.ok
    assert report.servers[0].selection == "dropped"
    assert report.servers[0].kod == code
    assert server.received == 1  # the burst stops at the kiss
    server.kiss = None  # even if it recovers, it is not asked again
    report = clock.sync()
    assert not report.ok
    assert server.received == 1
    assert report.packets_sent == 0


def test_rate_backs_off(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(kiss="RATE")
    good = servers()
    clock = make_clock([server.address, good.address], poll_interval=0.5, min_poll=0.1)
    clock.sync()
    status = {s.server: s for s in clock.servers()}[server.address]
    assert status.kod == "RATE"
    assert status.poll_interval >= 64
    received = server.received
    assert received >= 1
    clock.sync()
    assert server.received == received  # inside the back-off window: not asked
    assert good.received >= 3


def test_unknown_kiss_codes_are_just_refused(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(kiss="INIT")
    clock = make_clock([server.address], burst=1)
    report = clock.sync()
    assert not report.ok
    assert report.servers[0].kod == "INIT"
    assert report.servers[0].selection != "dropped"
    server.kiss = None
    assert clock.sync().ok


def test_spoofed_kiss_does_not_drop_the_server(
    servers: Callable[..., FakeNtpServer], make_clock: Callable[..., AtomicClock]
) -> None:
    server = servers(kiss="DENY", bogus="origin_mismatch")
    clock = make_clock([server.address], burst=1, timeout=0.2)
    report = clock.sync()
    assert not report.ok
    assert report.servers[0].selection != "dropped"
    assert report.servers[0].kod is None
    server.kiss = server.bogus = None
    assert clock.sync().ok
