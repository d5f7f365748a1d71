"""The FakeNtpServer test double itself."""

from __future__ import annotations

import inspect
import re

import ntplib
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


# ---------------------------------------------------- as an independent client sees it
# ntplib is a separate NTP implementation (dualid parses NTP itself, clock/_ntp.py): what
# it decodes from the fake's replies is what the fake really puts on the wire.


def _ntplib_request(address: str) -> ntplib.NTPStats:
    host, _, port = address.rpartition(":")
    return ntplib.NTPClient().request(host, version=4, port=int(port), timeout=2)


def test_an_independent_client_reads_the_fake_server() -> None:
    with FakeNtpServer(offset=2.5, stratum=3, root_delay=0.010, root_dispersion=0.020) as server:
        stats = _ntplib_request(server.address)
    assert (stats.mode, stats.version, stats.stratum, stats.leap) == (4, 4, 3, 0)
    assert stats.offset == pytest.approx(2.5, abs=0.05)
    assert 0 <= stats.delay < 0.05
    assert stats.root_delay == pytest.approx(0.010, abs=1e-4)
    assert stats.root_dispersion == pytest.approx(0.020, abs=1e-4)
    # The reply echoes the request's transmit time as its origin, and was received
    # (by the server) before it was sent.
    assert 0 <= stats.dest_time - stats.orig_time < 0.05
    assert stats.recv_time <= stats.tx_time


@pytest.mark.parametrize(
    ("knobs", "seen"),
    [
        ({"kiss": "RATE"}, {"stratum": 0, "leap": 3, "ref_id": "RATE"}),
        ({"kiss": "DENY"}, {"stratum": 0, "ref_id": "DENY"}),
        ({"bogus": "mode3"}, {"mode": 3}),
        ({"bogus": "mode5"}, {"mode": 5}),
        ({"bogus": "stratum16"}, {"stratum": 16}),
        ({"bogus": "li3"}, {"leap": 3}),
        ({"bogus": "root_distance"}, {"root_dispersion": 20.0}),
        ({"bogus": "zero_tx"}, {"tx_timestamp": 0}),
    ],
)
def test_each_fault_is_on_the_wire_as_an_independent_client_decodes_it(
    knobs: dict[str, str], seen: dict[str, object]
) -> None:
    with FakeNtpServer(**knobs) as server:  # type: ignore[arg-type]
        stats = _ntplib_request(server.address)
    decoded = {
        "mode": stats.mode,
        "stratum": stats.stratum,
        "leap": stats.leap,
        "ref_id": int(stats.ref_id).to_bytes(4, "big").decode("ascii", "replace"),
        "root_dispersion": pytest.approx(stats.root_dispersion, abs=1e-3),
        "tx_timestamp": stats.tx_timestamp,
    }
    assert {key: decoded[key] for key in seen} == seen


def test_origin_mismatch_is_on_the_wire() -> None:
    with FakeNtpServer() as honest, FakeNtpServer(bogus="origin_mismatch") as liar:
        good, bad = _ntplib_request(honest.address), _ntplib_request(liar.address)
    assert 0 <= good.dest_time - good.orig_time < 0.05
    # Only the low 32 bits are flipped: up to a second away, never the request's value.
    assert bad.orig_time != pytest.approx(bad.dest_time, abs=1e-6)
    assert abs(bad.dest_time - bad.orig_time) < 1.5
