"""Against a real NTP server: chronyd on loopback (Debian's ``chrony``), shifted or sped up
with libfaketime (Debian's ``faketime``). Skipped with the reason when they are not
installed, unless DUALID_TEST_REQUIRE_CHRONY=1 (CI), where that is a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable

import ntplib
import pytest

from dualid.clock import AtomicClock, ClockStatus

from .conftest import Chronyd, faketime_lib

pytestmark = pytest.mark.slow

StartChronyd = Callable[..., Chronyd]


def test_sync_against_chronyd(
    chronyd: StartChronyd, make_clock: Callable[..., AtomicClock]
) -> None:
    server = chronyd()
    clock = make_clock([server.address], burst=4)
    report = clock.sync()
    assert report.ok, report.error
    # chronyd serves this machine's own clock: the offset is only the measurement error.
    assert abs(report.offset) < 0.05  # type: ignore[arg-type]
    assert report.bound is not None
    assert report.bound < 0.05
    status = report.servers[0]
    assert status.selection == "truechimer"
    assert status.reach == 1
    assert status.delay is not None
    assert status.delay < 0.05
    assert clock.now().status is ClockStatus.SYNCED


def test_chronyd_serving_a_shifted_clock(
    chronyd: StartChronyd, make_clock: Callable[..., AtomicClock]
) -> None:
    shifted = chronyd(faketime="+37.5s")
    clock = make_clock([shifted.address], burst=2)
    report = clock.sync()
    assert report.ok, report.error
    assert report.offset == pytest.approx(37.5, abs=0.05)
    assert report.step == pytest.approx(37.5, abs=0.05)


def test_shifted_chronyd_is_a_falseticker(
    chronyd: StartChronyd, make_clock: Callable[..., AtomicClock]
) -> None:
    honest = [chronyd(), chronyd()]
    shifted = chronyd(faketime="+37.5s")
    clock = make_clock([h.address for h in honest] + [shifted.address], burst=2)
    report = clock.sync()
    assert report.ok, report.error
    assert report.falsetickers == (shifted.address,)
    assert abs(report.offset) < 0.05  # type: ignore[arg-type]


def test_an_independent_client_agrees_with_dualid_about_chronyd(
    chronyd: StartChronyd, make_clock: Callable[..., AtomicClock]
) -> None:
    # ntplib is a separate NTP implementation: chronyd's replies as it decodes them, and
    # the offsets it computes, must agree with what dualid's own client measures.
    honest, shifted = chronyd(), chronyd(faketime="+37.5s")
    for server, expected in ((honest, 0.0), (shifted, 37.5)):
        host, _, port = server.address.rpartition(":")
        stats = ntplib.NTPClient().request(host, version=4, port=int(port), timeout=2)
        assert (stats.mode, stats.version, stats.leap) == (4, 4, 0)
        assert stats.stratum == 8  # `local stratum 8`
        assert stats.offset == pytest.approx(expected, abs=0.05)
        assert 0 <= stats.dest_time - stats.orig_time < 0.05  # the origin echoes our request
        report = make_clock([server.address], burst=2).sync()
        assert report.ok, report.error
        assert report.offset == pytest.approx(stats.offset, abs=0.05)


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from dualid.clock import AtomicClock
    from dualid.clock._exchange import Target, exchange_round

    address = sys.argv[1]
    clock = AtomicClock([address], burst=1, timeout=1.0, max_drift_ppm=2000)
    for _ in range(8):
        report = clock.sync()
        assert report.ok, report.error
        time.sleep(1.2)
    report = clock.sync()
    assert report.ok, report.error
    tl = clock._timeline
    time.sleep(8.0)  # holdover: no syncs
    reading = clock.now()
    # The truth, measured once more against the server on the same local timescale: the
    # probe with the shortest round trip of five (a loaded machine delays some replies,
    # and a probe is only as exact as half its round trip).
    srv = clock._servers[0]
    probes = [
        exchange_round(
            [Target(0, srv.family, srv.sockaddr)], timeout=1.0, mono_ns=clock._mono,
            local_offset_ns=clock._epoch,
        )[0].sample
        for _ in range(5)
    ]
    sample = min((p for p in probes if p is not None), key=lambda p: p.delay_ns)
    truth = sample.mono_ns + clock._epoch + sample.offset_ns
    estimate, bound, lead = tl.value(sample.mono_ns)
    uncorrected = tl.anchor_true + (sample.mono_ns - tl.anchor_mono) - truth
    print(json.dumps({
        "error": estimate - truth,
        "bound": bound + lead,
        "uncorrected": uncorrected,
        "probe_delay": sample.delay_ns,
        "frequency_ppm": clock.state().frequency_ppm,
        "skew_ppm": clock.state().skew_ppm,
        "status": reading.status.value,
        "holdover_s": (sample.mono_ns - tl.anchor_mono) / 1e9,
    }))
    """
)


def test_drift_learning_in_a_process_whose_clock_runs_fast(chronyd: StartChronyd) -> None:
    server = chronyd()
    env = dict(os.environ, LD_PRELOAD=faketime_lib(), FAKETIME="+0 x1.0005", FAKETIME_NO_CACHE="1")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, server.address],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # The child's clocks (monotonic included) run 500 ppm fast.
    assert result["frequency_ppm"] == pytest.approx(500, abs=max(50, result["skew_ppm"]))
    # The probe that measured the truth is itself exact to half its round trip.
    probe = result["probe_delay"] / 2
    uncorrected = abs(result["uncorrected"])
    assert uncorrected + probe > 300e-6 * result["holdover_s"] * 1e9  # the clock really is fast
    error = abs(result["error"])
    assert error - probe < uncorrected / 5  # the learned frequency keeps holdover tight
    assert error <= result["bound"] + result["probe_delay"] / 2  # and inside the bound
