"""The FakeNtpServer test double itself."""

from __future__ import annotations

import inspect
import re

import pytest

import dualid.testing._ntp_server as ntp_server_module
from dualid.clock import AtomicClock
from dualid.errors import InvalidInput
from dualid.testing import FakeNtpServer


def test_address_counts_and_reconfiguration() -> None:
    with FakeNtpServer(offset=1.0) as server:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", server.address)
        assert server.port > 0
        clock = AtomicClock([server.address], burst=1, timeout=0.5)
        first = clock.sync()
        assert first.ok
        assert abs(first.offset - 1.0) < 0.05
        server.offset = 1.5  # reconfigured while running
        server.stratum = 3
        second = AtomicClock([server.address], burst=1, timeout=0.5).sync()
        assert abs(second.offset - 1.5) < 0.05
        assert server.received == server.replies == 2
    with pytest.raises(RuntimeError):
        _ = server.address


def test_drift_makes_the_served_clock_run_fast() -> None:
    now = [10**18]
    server = FakeNtpServer(drift_ppm=100.0, time_ns=lambda: now[0])
    with server:
        now[0] += 10**9 * 1000
        assert server.server_time_ns() - now[0] == 100_000_000


@pytest.mark.parametrize("kwargs", [{"kiss": "NOPE"}, {"bogus": "weird"}, {"loss": 2.0}])
def test_bad_knobs(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        FakeNtpServer(**kwargs)  # type: ignore[arg-type]


def test_reads_time_only_through_the_clock_package() -> None:
    # P8: wall-clock reads live only in dualid/clock; the fake server uses system_time_ns.
    source = inspect.getsource(ntp_server_module)
    for forbidden in ("time.time", "datetime.now", "date.today", "monotonic"):
        assert forbidden not in source
    assert FakeNtpServer().time_ns.__module__ == "dualid.clock._system"
