from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dualid import DataField, EventType, GrantState, HostKind
from dualid.clock import Clock, ClockStatus, Hlc, HlcSkewError, datetime_to_ns
from dualid.errors import InvalidInput
from dualid.testing import DEFAULT_START, FakeClock, add_person, memory_sdk

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def test_stands_still_until_moved() -> None:
    clock = FakeClock(start=START)
    first, second = clock.now(), clock.now()
    assert first.time == second.time == START
    assert first.hlc < second.hlc
    assert first.status is ClockStatus.SYNCED
    assert first.earliest == START - timedelta(milliseconds=5)
    assert isinstance(clock, Clock)


def test_default_start() -> None:
    assert FakeClock().now().time == DEFAULT_START


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ((timedelta(hours=2),), {}),
        ((7200,), {}),
        ((7200.0,), {}),
        ((), {"hours": 2}),
        ((), {"minutes": 90, "seconds": 1800}),
    ],
)
def test_advance(how: tuple[object, ...], expected: dict[str, float]) -> None:
    clock = FakeClock(start=START)
    clock.advance(*how, **expected)  # type: ignore[arg-type]
    assert clock.now().time == START + timedelta(hours=2)
    assert clock.true_time == START + timedelta(hours=2)


@pytest.mark.parametrize("bad", [timedelta(seconds=-1), -1, -0.5])
def test_advance_never_goes_back(bad: object) -> None:
    clock = FakeClock(start=START)
    with pytest.raises(InvalidInput, match="only moves forward"):
        clock.advance(bad)  # type: ignore[arg-type]
    assert clock.true_time == START


def test_advance_rejects_nonsense() -> None:
    clock = FakeClock(start=START)
    with pytest.raises(InvalidInput):
        clock.advance(timedelta(seconds=1), hours=1)
    with pytest.raises(InvalidInput):
        clock.advance(fortnights=1)
    with pytest.raises(InvalidInput):
        clock.advance("1h")  # type: ignore[arg-type]


def test_set_jumps_both_ways_but_hlc_only_increases() -> None:
    clock = FakeClock(start=START)
    before = clock.now()
    clock.set(START - timedelta(days=1))
    after = clock.now()
    assert after.time == START - timedelta(days=1)
    assert after.hlc > before.hlc


def test_set_converts_to_utc_and_rejects_naive() -> None:
    clock = FakeClock(start=START)
    clock.set(datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=3))))
    assert clock.now().time == START
    assert clock.now().time.tzinfo is UTC
    with pytest.raises(InvalidInput, match="aware"):
        clock.set(datetime(2026, 5, 1))
    with pytest.raises(InvalidInput, match="aware"):
        FakeClock(start=datetime(2026, 5, 1))


# -- offline ----------------------------------------------------------------------------


def test_offline_is_holdover_with_a_growing_bound() -> None:
    clock = FakeClock(start=START, uncertainty=timedelta(milliseconds=5), holdover_rate=1e-4)
    clock.go_offline()
    assert not clock.online
    at_once = clock.now()
    assert at_once.status is ClockStatus.HOLDOVER
    assert at_once.uncertainty == timedelta(milliseconds=5)
    clock.advance(timedelta(minutes=10))
    later = clock.now()
    assert later.status is ClockStatus.HOLDOVER
    assert later.uncertainty == timedelta(milliseconds=5 + 60)
    clock.advance(timedelta(minutes=10))
    assert clock.now().uncertainty == timedelta(milliseconds=5 + 120)


def test_going_offline_twice_keeps_the_first_start() -> None:
    clock = FakeClock(start=START, holdover_rate=1e-3)
    clock.go_offline()
    clock.advance(100)
    clock.go_offline()
    assert clock.now().uncertainty == timedelta(milliseconds=5 + 100)


def test_long_holdover_becomes_unsynced() -> None:
    clock = FakeClock(start=START, void_after=timedelta(hours=6))
    clock.go_offline()
    clock.advance(timedelta(hours=6) - timedelta(seconds=1))
    assert clock.now().status is ClockStatus.HOLDOVER
    clock.advance(1)
    reading = clock.now()
    assert reading.status is ClockStatus.UNSYNCED
    assert reading.uncertainty > timedelta(milliseconds=5)


def test_default_void_after_is_a_day_and_none_disables_it() -> None:
    clock = FakeClock(start=START)
    never = FakeClock(start=START, void_after=None)
    for c in (clock, never):
        c.go_offline()
        c.advance(timedelta(days=1))
    assert clock.now().status is ClockStatus.UNSYNCED
    assert never.now().status is ClockStatus.HOLDOVER


def test_going_online_restores_status_and_bound() -> None:
    clock = FakeClock(start=START, status=ClockStatus.SYNCED)
    clock.go_offline()
    clock.advance(timedelta(days=3))
    clock.go_online()
    reading = clock.now()
    assert clock.online
    assert reading.status is ClockStatus.SYNCED
    assert reading.uncertainty == timedelta(milliseconds=5)


def test_set_back_while_offline_never_shrinks_the_bound_below_base() -> None:
    clock = FakeClock(start=START)
    clock.go_offline()
    clock.set(START - timedelta(hours=1))
    assert clock.now().uncertainty == timedelta(milliseconds=5)


def test_offline_context_manager() -> None:
    clock = FakeClock(start=START)
    with clock.offline() as same:
        assert same is clock
        clock.advance(timedelta(hours=1))
        assert clock.now().status is ClockStatus.HOLDOVER
    assert clock.online
    assert clock.now().status is ClockStatus.SYNCED


def test_offline_context_manager_restores_on_error_and_nests() -> None:
    clock = FakeClock(start=START)
    with pytest.raises(RuntimeError), clock.offline():
        raise RuntimeError("boom")
    assert clock.online
    clock.go_offline()
    with clock.offline():
        pass
    assert not clock.online  # it was offline before the block: it stays offline


def test_status_and_uncertainty_knobs() -> None:
    clock = FakeClock(start=START, status=ClockStatus.UNSYNCED)
    assert clock.now().status is ClockStatus.UNSYNCED
    clock.set_status(ClockStatus.SYNCED)
    clock.set_uncertainty(timedelta(seconds=2))
    reading = clock.now()
    assert (reading.status, reading.uncertainty) == (ClockStatus.SYNCED, timedelta(seconds=2))
    with pytest.raises(InvalidInput):
        clock.set_uncertainty(timedelta(seconds=-1))


# -- drift ------------------------------------------------------------------------------


def test_drift_accumulates_and_sync_corrects_it() -> None:
    clock = FakeClock(start=START, drift_ppm=100)
    clock.advance(timedelta(days=1))
    assert clock.error == timedelta(seconds=8.64)
    assert clock.now().time == clock.true_time + timedelta(seconds=8.64)
    clock.go_online()
    assert clock.error == timedelta(0)
    assert clock.now().time == clock.true_time


def test_negative_drift_runs_slow() -> None:
    clock = FakeClock(start=START, drift_ppm=-50)
    clock.advance(timedelta(seconds=10_000))
    assert clock.now().time == clock.true_time - timedelta(seconds=0.5)


def test_set_drift_ppm_keeps_the_error_so_far() -> None:
    clock = FakeClock(start=START, drift_ppm=100)
    clock.advance(10_000)  # +1 s
    clock.set_drift_ppm(-100)
    assert clock.drift_ppm == -100
    assert clock.error == timedelta(seconds=1)  # no jump
    clock.advance(5_000)  # -0.5 s
    assert clock.error == timedelta(seconds=0.5)
    clock.set(START)
    assert clock.error == timedelta(0)


def test_drift_beyond_the_holdover_rate_makes_the_bound_dishonest() -> None:
    # What a test of "the oscillator is worse than assumed" looks like.
    clock = FakeClock(start=START, drift_ppm=500, holdover_rate=20e-6)
    with clock.offline():
        clock.advance(timedelta(hours=1))
        reading = clock.now()
    assert not reading.earliest <= clock.true_time <= reading.latest


# -- tick -------------------------------------------------------------------------------


def test_tick_moves_time_after_each_reading() -> None:
    clock = FakeClock(start=START, tick=timedelta(seconds=1))
    times = [clock.now().time for _ in range(3)]
    assert times == [START, START + timedelta(seconds=1), START + timedelta(seconds=2)]
    clock.set_tick(0)
    assert clock.now().time == clock.now().time == START + timedelta(seconds=3)


def test_tick_accepts_seconds_and_rejects_negative() -> None:
    clock = FakeClock(start=START, tick=0.25)
    clock.now()
    assert clock.true_time == START + timedelta(milliseconds=250)
    with pytest.raises(InvalidInput):
        FakeClock(tick=-1)


# -- HLC --------------------------------------------------------------------------------


def test_observe_orders_after_a_remote_hlc() -> None:
    clock = FakeClock(start=START)
    local = clock.now().hlc
    remote = Hlc(datetime_to_ns(START) + 5 * 10**9, 3)
    merged = clock.observe(remote)
    assert merged > remote
    assert merged > local
    assert clock.last_hlc == merged
    assert clock.now().hlc > merged
    assert clock.observe(str(Hlc(0, 0))) > merged


def test_observe_rejects_a_remote_too_far_ahead() -> None:
    clock = FakeClock(start=START, max_hlc_offset=timedelta(seconds=10))
    with pytest.raises(HlcSkewError):
        clock.observe(Hlc(datetime_to_ns(START) + 11 * 10**9, 0))
    with pytest.raises(ValueError):
        clock.observe("not an hlc")


def test_hlcs_are_unique_across_threads() -> None:
    clock = FakeClock(start=START)
    seen: list[Hlc] = []
    lock = threading.Lock()

    def read() -> None:
        local = [clock.now().hlc for _ in range(500)]
        with lock:
            seen.extend(local)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 2000


def test_repr_shows_state() -> None:
    clock = FakeClock(start=START)
    assert "online" in repr(clock)
    clock.go_offline()
    assert "offline" in repr(clock)


# -- driving the SDK ----------------------------------------------------------------------


def test_drives_grant_expiry_in_the_sdk() -> None:
    clock = FakeClock(start=START)
    with memory_sdk(clock) as sdk:
        ana = add_person(sdk, "user-1", seed=1)
        sdk.hosts.register("bistro-7", kind=HostKind.BUSINESS, name="Bistro Seven")
        sdk.hosts.require(
            "bistro-7",
            EventType.RESERVATION,
            required={DataField.NAME},
            optional={DataField.EMAIL},
            purpose="table booking",
        )
        sdk.events.register(ana.agent_id, "bistro-7", EventType.RESERVATION, "res-1",
                            share={DataField.NAME})  # fmt: skip
        grant = sdk.consent.grant(
            ana.agent_id,
            "bistro-7",
            fields={DataField.EMAIL},
            event_id="res-1",
            purpose="confirmation",
            expires_at=START + timedelta(days=1),
        )
        (guest,) = sdk.events.attendees("bistro-7", "res-1")
        assert guest.data.email == ana.data.email
        assert guest.shared_at == START
        clock.advance(timedelta(days=1, seconds=1))
        assert sdk.consent.get(grant.id).state is GrantState.EXPIRED
        (guest,) = sdk.events.attendees("bistro-7", "res-1")
        assert guest.data.email is None
        assert guest.data.name == ana.data.name
