"""AtomicClock.now() builds its reading's datetime, timedelta and Hlc on first access
(issue 18: one object per call). Such a reading must be indistinguishable from one built
eagerly: same values, equality, hashing, ordering of HLCs, repr, pickling, copying and
dataclasses.replace, and the same values whichever attribute is read first."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta

import pytest

from dualid.clock import AtomicClock, ClockReading, ClockStatus, Hlc, datetime_from_ns
from dualid.clock._reading import _datetime_of_ns, _lazy_reading

from .conftest import SimTime


def _eager(r: ClockReading) -> ClockReading:
    return ClockReading(r.time, r.uncertainty, r.status, r.hlc)


def test_a_lazy_reading_equals_the_eager_one_read_in_any_order() -> None:
    ns = 1_764_672_000_123_456_789
    orders = [("time", "uncertainty", "hlc"), ("hlc", "time", "uncertainty"), ("uncertainty",)]
    for order in orders:
        r = _lazy_reading(ClockStatus.SYNCED, ns, 5_001, ns, 3)
        for name in order:
            getattr(r, name)
        assert r.time == datetime(2025, 12, 2, 10, 40, 0, 123456, tzinfo=UTC)
        assert r.time.tzinfo is UTC
        assert r.uncertainty == timedelta(microseconds=5_001)
        assert r.hlc == Hlc(ns, 3)
        assert r == _eager(r)
        assert hash(r) == hash(_eager(r))
        assert r.earliest == r.time - r.uncertainty
        assert r.latest == r.time + r.uncertainty
    # Built once, then kept: the same objects on every access.
    r = _lazy_reading(ClockStatus.HOLDOVER, ns, 7, ns, 0)
    assert r.time is r.time
    assert r.hlc is r.hlc
    assert r.uncertainty is r.uncertainty


def test_a_lazy_reading_prints_pickles_copies_and_replaces_like_any_other() -> None:
    ns = 1_700_000_000_000_000_000
    r = _lazy_reading(ClockStatus.UNSYNCED, ns, 10, ns, 0)
    assert repr(r) == repr(_eager(_lazy_reading(ClockStatus.UNSYNCED, ns, 10, ns, 0)))
    for clone in (
        pickle.loads(pickle.dumps(_lazy_reading(ClockStatus.UNSYNCED, ns, 10, ns, 0))),
        copy.copy(_lazy_reading(ClockStatus.UNSYNCED, ns, 10, ns, 0)),
        copy.deepcopy(_lazy_reading(ClockStatus.UNSYNCED, ns, 10, ns, 0)),
    ):
        assert clone == r
    wider = dataclasses.replace(r, uncertainty=timedelta(seconds=1))
    assert wider.uncertainty == timedelta(seconds=1)
    assert wider.time == r.time
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.time = r.time  # type: ignore[misc]
    with pytest.raises(AttributeError):
        r.nonexistent  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(r) if f.compare] == [
        "time",
        "uncertainty",
        "status",
        "hlc",
    ]


def test_an_eagerly_built_reading_does_not_recurse_on_a_missing_attribute() -> None:
    r = ClockReading(datetime(2026, 1, 1, tzinfo=UTC), timedelta(0), ClockStatus.SYNCED, Hlc(1))
    with pytest.raises(AttributeError):
        r.missing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "ns",
    [0, 999, 1_000_000_999, 1_764_672_000_999_999_999, 4_102_444_799_999_999_000, 86_399 * 10**9],
)
def test_the_fast_datetime_equals_the_reference_conversion(ns: int) -> None:
    # Alternate with another second so the one-second calendar cache is refilled too.
    for _ in range(2):
        assert _datetime_of_ns(ns) == datetime_from_ns(ns)
        assert _datetime_of_ns(ns + 10**9 + 1) == datetime_from_ns(ns + 10**9 + 1)


def test_now_readings_are_lazy_and_equal_to_their_eager_form(sim: SimTime) -> None:
    clock = AtomicClock([], _monotonic_ns=sim.mono_ns, _wall_ns=sim.wall_ns)
    a, b = clock.now(), clock.now()
    assert a.hlc < b.hlc
    assert a.time <= b.time
    assert a == _eager(a)
    assert b == _eager(b)
    assert clock.last_hlc == b.hlc
