"""AtomicClock end to end over loopback UDP, with driven time sources (no sleeping)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualid.clock import (
    AtomicClock,
    ClockReading,
    ClockStatus,
    Hlc,
    HlcSkewError,
    Ordering,
    SyncReport,
    datetime_from_ns,
    datetime_to_ns,
    order,
)
from dualid.errors import ClockError, InvalidInput
from dualid.testing import FakeNtpServer

from .conftest import SimTime, closed_port

S = 10**9
Servers = Callable[..., FakeNtpServer]
MakeClock = Callable[..., AtomicClock]


def driven(sim: SimTime, **kwargs: object) -> dict[str, object]:
    return {"_monotonic_ns": sim.mono_ns, "_wall_ns": sim.wall_ns, "_boot_id": "boot-1", **kwargs}


def error_ns(reading: ClockReading, truth_ns: int) -> int:
    return datetime_to_ns(reading.time) - truth_ns


def assert_contains(reading: ClockReading, truth_ns: int) -> None:
    truth = datetime_from_ns(truth_ns)
    slack = timedelta(microseconds=1)
    assert reading.earliest - slack <= truth <= reading.latest + slack, (
        f"truth {truth} outside [{reading.earliest}, {reading.latest}]"
    )


# ------------------------------------------------------------------ before any sync


def test_before_the_first_sync_it_is_system_time_unsynced(sim: SimTime) -> None:
    sim.wall_error = 3.0
    clock = AtomicClock(["127.0.0.1:9"], **driven(sim))  # type: ignore[arg-type]
    reading = clock.now()
    assert reading.status is ClockStatus.UNSYNCED
    assert abs(error_ns(reading, sim.true_ns()) - 3 * S) < S // 10
    assert reading.uncertainty >= timedelta(seconds=10)
    assert reading.time.tzinfo is UTC


def test_no_servers(make_clock: MakeClock) -> None:
    clock = make_clock([])
    report = clock.sync()
    assert not report.ok
    assert report.error == "no servers configured"
    assert clock.now().status is ClockStatus.UNSYNCED


def test_all_servers_down(make_clock: MakeClock) -> None:
    clock = make_clock([f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"])
    before = clock.now()
    report = clock.sync()
    assert not report.ok
    assert all(s.reach == 0 and s.selection == "unreachable" for s in report.servers)
    after = clock.now()
    assert after.status is ClockStatus.UNSYNCED
    assert after.time >= before.time
    assert after.hlc > before.hlc


def test_dns_failure(servers: Servers, make_clock: MakeClock) -> None:
    good = servers(offset=0.25)

    def resolver(host: str, port: int) -> tuple[int, tuple[str, int]]:
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return socket.AF_INET, (host, port)

    clock = make_clock(["nonexistent.invalid"], _resolve=resolver)
    report = clock.sync()
    assert not report.ok
    assert report.servers[0].last_error.startswith("dns:")  # type: ignore[union-attr]
    assert report.packets_sent == 0
    assert clock.now().status is ClockStatus.UNSYNCED
    both = make_clock(["nonexistent.invalid", good.address], _resolve=resolver)
    report = both.sync()
    assert report.ok
    assert abs(report.offset - 0.25) < 0.05  # type: ignore[operator]


def test_names_resolve_through_the_system_resolver(servers: Servers, make_clock: MakeClock) -> None:
    server = servers(offset=0.1)
    clock = make_clock([f"localhost:{server.port}"])
    report = clock.sync()
    # localhost may resolve to ::1 first, where nothing listens: then it is unreachable.
    if report.servers[0].address and report.servers[0].address.startswith("127."):
        assert report.ok


def test_bad_configuration_raises() -> None:
    with pytest.raises(InvalidInput):
        AtomicClock(["host:0"])
    with pytest.raises(InvalidInput):
        AtomicClock([], poll_interval=-1)
    with pytest.raises(InvalidInput):
        AtomicClock([], burst=0)


# ------------------------------------------------------------------------- selection


def test_majority_beats_a_falseticker_an_hour_off(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    honest = [servers(offset=0.0, time_ns=sim.true_ns), servers(offset=0.0, time_ns=sim.true_ns)]
    liar = servers(offset=3600.0, time_ns=sim.true_ns)
    sim.wall_error = -0.7
    clock = make_clock([h.address for h in honest] + [liar.address], **driven(sim))
    report = clock.sync()
    assert report.ok
    assert report.falsetickers == (liar.address,)
    assert set(report.truechimers) == {h.address for h in honest}
    assert abs(report.offset - 0.7) < 0.01  # type: ignore[operator]
    selection = {s.server: s.selection for s in clock.servers()}
    assert selection[liar.address] == "falseticker"
    reading = clock.now()
    assert reading.status is ClockStatus.SYNCED
    assert abs(error_ns(reading, sim.true_ns())) < 10_000_000
    assert_contains(reading, sim.true_ns())
    assert reading.uncertainty < timedelta(milliseconds=10)


def test_no_majority_means_no_update(servers: Servers, make_clock: MakeClock) -> None:
    a, b = servers(offset=0.0), servers(offset=100.0)
    clock = make_clock([a.address, b.address])
    report = clock.sync()
    assert not report.ok
    assert report.error == "no majority of servers agree"
    assert clock.now().status is ClockStatus.UNSYNCED


# ----------------------------------------------------------------- holdover and void


def test_holdover_bound_grows_and_contains_the_truth(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock(
        [server.address],
        poll_interval=60,
        void_after=6 * 3600,
        floor_ppm=1.0,
        **driven(sim, _boot_id="b"),
    )
    assert clock.sync().ok
    synced = clock.now()
    assert synced.status is ClockStatus.SYNCED
    server.stop()  # offline from here on
    sim.advance(3600)
    r1 = clock.now()
    assert r1.status is ClockStatus.HOLDOVER  # overdue after 3 x poll_interval
    sim.advance(3600)
    r2 = clock.now()
    growth1 = (r1.uncertainty - synced.uncertainty).total_seconds()
    growth2 = (r2.uncertainty - r1.uncertainty).total_seconds()
    # Unlearned frequency: max_drift (500 ppm) + floor (1 ppm) per second.
    assert growth1 == pytest.approx(3600 * 501e-6, rel=1e-3)
    assert growth2 == pytest.approx(growth1, rel=1e-3)
    assert_contains(r2, sim.true_ns())
    report = clock.sync()
    assert not report.ok
    assert report.status is ClockStatus.HOLDOVER
    sim.advance(5 * 3600)
    assert clock.now().status is ClockStatus.UNSYNCED  # past void_after
    assert_contains(clock.now(), sim.true_ns())


def test_failed_sync_turns_synced_into_holdover(servers: Servers, make_clock: MakeClock) -> None:
    server = servers()
    clock = make_clock([server.address], timeout=0.2)
    assert clock.sync().ok
    assert clock.now().status is ClockStatus.SYNCED
    server.bogus = "silent"
    report = clock.sync()
    assert not report.ok
    assert clock.now().status is ClockStatus.HOLDOVER
    server.bogus = None
    assert clock.sync().ok
    assert clock.now().status is ClockStatus.SYNCED


@pytest.mark.parametrize("drift_ppm", [300.0, -300.0])  # the local oscillator: fast, slow
def test_drift_is_learned_and_corrected_in_holdover(
    servers: Servers, make_clock: MakeClock, drift_ppm: float
) -> None:
    sim = SimTime(drift_ppm=drift_ppm)
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], poll_interval=600, **driven(sim))
    for _ in range(6):
        assert clock.sync().ok
        sim.advance(600)
    report = clock.sync()
    assert report.ok
    drift = clock.drift
    assert drift.learned
    state = clock.state()
    assert state.frequency_ppm == pytest.approx(drift_ppm, abs=max(5.0, state.skew_ppm))
    assert state.skew_ppm < 20
    # One sign convention (positive = the local clock runs fast) for every view of it.
    assert drift.freq * 1e6 == pytest.approx(state.frequency_ppm)
    assert drift.freq * 1e6 == pytest.approx(report.frequency_ppm)
    assert drift.skew * 1e6 == pytest.approx(state.skew_ppm)
    assert drift.correction == -drift.freq
    assert (drift.freq > 0) is (drift_ppm > 0)
    server.stop()
    hours = 2
    sim.advance(hours * 3600)
    reading = clock.now()
    assert reading.status is ClockStatus.HOLDOVER
    err = abs(error_ns(reading, sim.true_ns()))
    uncorrected = abs(drift_ppm) * 1e-6 * hours * 3600 * S
    assert err < uncorrected / 20
    assert_contains(reading, sim.true_ns())
    assert reading.uncertainty.total_seconds() * S < uncorrected / 5


# ------------------------------------------------------------------------- timeline


def test_backward_correction_is_slewed_never_stepped(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], max_slew_ppm=500, max_slew=1.0, **driven(sim))
    assert clock.sync().ok
    before = clock.now()
    server.offset = -0.2  # the reference now says we are 200 ms ahead
    sim.advance(10)
    report = clock.sync()
    assert report.ok
    assert report.step == 0
    assert report.slew == pytest.approx(0.2, abs=0.01)
    readings = [before, clock.now()]
    for _ in range(10):
        sim.advance(50)  # 500 s in all: the 0.2 s lead is worked off at 500 ppm in 400 s
        readings.append(clock.now())
    for a, b in itertools.pairwise(readings):
        assert b.time >= a.time
        assert b.hlc > a.hlc
    truth = sim.true_ns() - 200_000_000
    for r in readings[1:]:
        assert r.uncertainty.total_seconds() >= 0
    assert abs(error_ns(readings[-1], truth)) < 5_000_000
    assert clock.state().slewing == 0
    assert_contains(readings[-1], truth)


def test_large_backward_correction_is_held(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], max_slew=1.0, **driven(sim))
    assert clock.sync().ok
    server.offset = -5.0
    sim.advance(10)
    report = clock.sync()
    assert report.slew == pytest.approx(5.0, abs=0.01)
    first = clock.now()
    sim.advance(2)
    held = clock.now()
    assert held.time >= first.time
    assert (held.time - first.time) < timedelta(milliseconds=50)  # stands still
    assert held.hlc > first.hlc
    assert_contains(held, sim.true_ns() - 5 * S)
    sim.advance(4)
    moving = clock.now()
    assert abs(error_ns(moving, sim.true_ns() - 5 * S)) < 10_000_000


def test_forward_correction_is_a_visible_step(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], **driven(sim))
    assert clock.sync().ok
    server.offset = 2.0
    sim.advance(10)
    report = clock.sync()
    assert report.step == pytest.approx(2.0, abs=0.01)
    assert report.slew == 0
    assert clock.state().steps == 1
    assert abs(error_ns(clock.now(), sim.true_ns() + 2 * S)) < 10_000_000


def test_wall_clock_changes_do_not_move_the_timeline(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], **driven(sim))
    assert clock.sync().ok
    sim.wall_error = -3600.0  # someone sets the system clock back an hour
    reading = clock.now()
    assert abs(error_ns(reading, sim.true_ns())) < 10_000_000


# ----------------------------------------------------------------------- persistence


def test_restart_in_the_same_boot_is_holdover(
    servers: Servers, make_clock: MakeClock, sim: SimTime, tmp_path: Path
) -> None:
    state = tmp_path / "clock.json"
    server = servers(time_ns=sim.true_ns)
    first = make_clock([server.address], state_path=str(state), **driven(sim))
    assert first.sync().ok
    last = first.now()
    first.close()
    saved = json.loads(state.read_text())
    assert saved["boot_id"] == "boot-1"
    assert Hlc.parse(saved["last_hlc"]) == last.hlc
    sim.advance(600)
    second = make_clock([server.address], state_path=str(state), **driven(sim))
    reading = second.now()
    assert reading.status is ClockStatus.HOLDOVER
    assert reading.time > last.time
    assert reading.hlc > last.hlc
    assert reading.uncertainty > last.uncertainty  # grown over the 10 minutes
    assert_contains(reading, sim.true_ns())
    assert abs(error_ns(reading, sim.true_ns())) < 10_000_000


def test_restart_after_a_reboot_is_unsynced_but_monotonic(
    servers: Servers, make_clock: MakeClock, tmp_path: Path
) -> None:
    state = tmp_path / "clock.json"
    sim = SimTime(drift_ppm=100.0)
    server = servers(time_ns=sim.true_ns)
    first = make_clock([server.address], state_path=str(state), **driven(sim))
    for _ in range(3):
        assert first.sync().ok
        sim.advance(300)
    assert first.sync().ok
    freq = first.drift.freq
    assert first.drift.learned
    assert freq > 0  # SimTime(drift_ppm=100): fast
    last = first.now()
    first.close()
    # The state file keeps the rate correction under "freq", as files written before
    # the sign convention was settled do, so they restore with the right sign.
    assert json.loads(state.read_text())["freq"] == -freq
    sim.wall_error = -30.0  # the new boot's system clock is behind what was issued
    rebooted = SimTime(start_ns=sim.true_ns(), wall_error=-30.0)
    second = make_clock(
        [server.address],
        state_path=str(state),
        _monotonic_ns=lambda: rebooted.mono_ns() - 4 * 10**12,
        _wall_ns=rebooted.wall_ns,
        _boot_id="boot-2",
    )
    reading = second.now()
    assert reading.status is ClockStatus.UNSYNCED
    assert reading.time >= last.time  # held at the last issued time, never backwards
    assert reading.hlc > last.hlc
    assert second.drift.freq == freq  # the oscillator's frequency survives a reboot
    assert second.drift.learned


def test_corrupt_state_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "clock.json"
    state.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="dualid.clock"):
        clock = AtomicClock([], state_path=str(state))
    assert clock.now().status is ClockStatus.UNSYNCED
    assert "unreadable" in caplog.text
    state.write_text(json.dumps({"version": 1, "freq": "x"}))
    clock = AtomicClock([], state_path=str(state))
    assert clock.now().status is ClockStatus.UNSYNCED
    clock.save_state()
    assert json.loads(state.read_text())["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["clock.json"]  # no temp files left


# ------------------------------------------------------------------------------- HLC


def test_hlc_unique_and_increasing_under_threads(servers: Servers, make_clock: MakeClock) -> None:
    server = servers()
    clock = make_clock([server.address])
    assert clock.sync().ok
    results: list[list[ClockReading]] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        results.append([clock.now() for _ in range(2000)])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    all_hlcs = [r.hlc for rs in results for r in rs]
    assert len(set(all_hlcs)) == len(all_hlcs)
    for rs in results:
        for a, b in itertools.pairwise(rs):
            assert b.hlc > a.hlc
            assert b.time >= a.time
    # Across threads, the HLC order and the time order agree.
    merged = sorted((r for rs in results for r in rs), key=lambda r: r.hlc)
    for a, b in itertools.pairwise(merged):
        assert b.time >= a.time


def test_observe_merges_and_rejects_far_future(sim: SimTime) -> None:
    clock = AtomicClock([], max_hlc_offset=60, **driven(sim))  # type: ignore[arg-type]
    local = clock.now().hlc
    remote = Hlc(local.physical_ns + 30 * S, 5)
    merged = clock.observe(remote)
    assert merged > remote > local
    after = clock.now()
    assert after.hlc > merged
    assert clock.observe(str(Hlc(1, 0))) > after.hlc  # old remote: local order continues
    with pytest.raises(HlcSkewError) as info:
        clock.observe(Hlc(local.physical_ns + 120 * S, 0))
    assert isinstance(info.value, ClockError)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError):
        clock.observe("not-an-hlc")


def test_order_helper() -> None:
    base = datetime(2026, 5, 1, tzinfo=UTC)

    def reading(seconds: float, unc: float, logical: int = 0) -> ClockReading:
        return ClockReading(
            base + timedelta(seconds=seconds),
            timedelta(seconds=unc),
            ClockStatus.SYNCED,
            Hlc(1, logical),
        )

    assert order(reading(0, 1), reading(3, 1)) is Ordering.BEFORE
    assert order(reading(3, 1), reading(0, 1)) is Ordering.AFTER
    assert order(reading(0, 1), reading(1.5, 1)) is Ordering.AMBIGUOUS
    assert order(reading(0, 0), reading(0, 0)) is Ordering.AMBIGUOUS


# ------------------------------------------------------------------------- re-timing


def test_holdover_readings_are_retimed_after_the_next_sync(
    servers: Servers, make_clock: MakeClock
) -> None:
    sim = SimTime(drift_ppm=200.0)
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], poll_interval=60, **driven(sim))
    assert clock.sync().ok
    sim.advance(1800)
    offline = clock.now()
    truth = sim.true_ns()
    assert offline.status is ClockStatus.HOLDOVER
    assert clock.retime(offline) is offline  # nothing to interpolate with yet
    sim.advance(1800)
    assert clock.sync().ok
    better = clock.retime(offline)
    assert better.hlc == offline.hlc
    assert better.status is ClockStatus.SYNCED
    assert better.uncertainty < offline.uncertainty / 10
    assert_contains(better, truth)
    assert abs(error_ns(better, truth)) < abs(error_ns(offline, truth))


# --------------------------------------------------------------- listeners, threads


def test_listener_gets_every_report(
    servers: Servers, make_clock: MakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers()
    clock = make_clock([server.address])
    seen: list[SyncReport] = []
    remove = clock.add_listener(seen.append)

    def broken(report: SyncReport) -> None:
        raise RuntimeError("listener bug")

    clock.add_listener(broken)
    with caplog.at_level(logging.ERROR, logger="dualid.clock"):
        report = clock.sync()
    assert seen == [report]
    assert "listener failed" in caplog.text
    remove()
    clock.sync()
    assert len(seen) == 1
    assert report.to_dict()["status"] == "synced"
    assert clock.state().to_dict()["servers"][0]["reach"] == 3


def test_background_polling(servers: Servers, make_clock: MakeClock) -> None:
    server = servers()
    clock = make_clock([server.address], poll_interval=0.05, min_poll=0.01)
    done = threading.Event()
    reports: list[SyncReport] = []

    def listener(report: SyncReport) -> None:
        reports.append(report)
        if sum(r.ok for r in reports) >= 3:
            done.set()

    clock.add_listener(listener)
    clock.start()
    clock.start()  # idempotent
    assert done.wait(10)
    clock.stop()
    assert not any(t.name == "dualid-clock" for t in threading.enumerate())
    assert clock.now().status is ClockStatus.SYNCED
    assert clock.packets_sent == server.received


def test_async_sync(servers: Servers, make_clock: MakeClock) -> None:
    server = servers(offset=1.5)
    clock = make_clock([server.address])
    report = asyncio.run(clock.async_sync())
    assert report.ok
    assert abs(report.offset - 1.5) < 0.05  # type: ignore[operator]


# ---------------------------------------------------------------------- etiquette


def test_public_servers_are_polled_at_most_every_64_seconds(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)

    def resolver(host: str, port: int) -> tuple[int, tuple[str, int]]:
        return socket.AF_INET, ("127.0.0.1", server.port)

    clock = make_clock(
        ["time.example.org"],
        poll_interval=1,
        min_poll=0.1,
        burst=4,
        _resolve=resolver,
        _is_public=lambda host: True,
        **driven(sim),
    )
    assert clock.poll_once() is not None  # first poll: the burst
    assert server.received == 4
    sim.advance(63)
    assert clock.poll_once() is None
    assert server.received == 4
    sim.advance(2)
    report = clock.poll_once()
    assert report is not None
    assert report.ok
    assert server.received == 5  # one packet per poll after the burst
    assert report.servers[0].poll_interval == 64


def test_private_servers_follow_poll_interval_and_back_off(
    servers: Servers, make_clock: MakeClock, sim: SimTime
) -> None:
    server = servers(time_ns=sim.true_ns)
    clock = make_clock(
        [server.address],
        poll_interval=2,
        min_poll=1,
        max_poll=16,
        burst=1,
        timeout=0.2,
        **driven(sim),
    )
    assert clock.poll_once() is not None
    sim.advance(1.5)
    assert clock.poll_once() is None
    sim.advance(1)
    assert clock.poll_once() is not None
    assert server.received == 2
    server.bogus = "silent"
    intervals = []
    for _ in range(5):
        sim.advance(100)
        assert clock.poll_once() is not None
        intervals.append(clock.servers()[0].poll_interval)
    assert intervals == [4, 8, 16, 16, 16]
    server.bogus = None
    sim.advance(100)
    assert clock.poll_once() is not None
    assert clock.servers()[0].poll_interval == 2


def test_packets_sent_matches_what_the_server_saw(servers: Servers, make_clock: MakeClock) -> None:
    a, b = servers(), servers()
    clock = make_clock([a.address, b.address], burst=3)
    clock.sync()
    clock.sync()
    assert clock.packets_sent == a.received + b.received == 8


# --------------------------------------------------------------------------- 2036


def test_sync_across_the_2036_era_rollover(servers: Servers, make_clock: MakeClock) -> None:
    rollover = datetime_to_ns(datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC))
    sim = SimTime(start_ns=rollover - 2 * S, wall_error=-1.0)
    server = servers(time_ns=sim.true_ns)
    clock = make_clock([server.address], **driven(sim))
    assert clock.sync().ok
    sim.advance(3)
    assert clock.sync().ok
    reading = clock.now()
    assert reading.time > datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC)
    assert abs(error_ns(reading, sim.true_ns())) < 10_000_000
    assert reading.time.year == 2036
