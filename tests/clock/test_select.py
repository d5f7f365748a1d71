"""Marzullo selection and the clock filter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dualid.clock._filter import PHI, ClockFilter
from dualid.clock._ntp import NtpSample
from dualid.clock._select import marzullo, select


def test_majority_with_a_falseticker() -> None:
    sel = select([(0.0, 1.0), (0.5, 1.0), (3600.0, 1.0)])
    assert sel is not None
    assert sel.truechimers == (0, 1)
    assert sel.falsetickers == (2,)
    assert (sel.low, sel.high) == (-0.5, 1.0)
    assert sel.low <= sel.offset <= sel.high
    assert sel.offset - sel.bound <= sel.low
    assert sel.high <= sel.offset + sel.bound


def test_no_majority() -> None:
    assert select([(0.0, 1.0), (10.0, 1.0)]) is None
    assert select([(0.0, 1.0), (10.0, 1.0), (20.0, 1.0)]) is None
    assert select([]) is None


def test_single_source() -> None:
    sel = select([(5.0, 2.0)])
    assert sel is not None
    assert (sel.offset, sel.bound) == (5.0, 2.0)


def test_weighting_prefers_the_tighter_source() -> None:
    sel = select([(0.0, 10.0), (4.0, 1.0)])
    assert sel is not None
    assert (sel.low, sel.high) == (3.0, 5.0)
    assert 3.0 <= sel.offset < 5.0
    assert sel.offset > 3.5  # pulled towards the tight source's 4.0


def _coverage(intervals: list[tuple[float, float]], x: float) -> int:
    return sum(1 for lo, hi in intervals if lo <= x <= hi)


intervals_st = st.lists(
    st.tuples(st.integers(-1000, 1000), st.integers(0, 300)).map(
        lambda t: (float(t[0]), float(t[0] + t[1]))
    ),
    min_size=1,
    max_size=12,
)


@settings(derandomize=True, max_examples=300)
@given(intervals_st)
def test_marzullo_finds_the_maximum_overlap(intervals: list[tuple[float, float]]) -> None:
    count, low, high = marzullo(intervals)
    points = [p for iv in intervals for p in iv]
    brute = max(_coverage(intervals, p) for p in points)
    assert count == brute
    assert low <= high
    assert _coverage(intervals, low) == count
    assert _coverage(intervals, high) == count
    assert marzullo(list(reversed(intervals))) == (count, low, high)


@settings(derandomize=True, max_examples=300)
@given(intervals_st)
def test_selection_properties(intervals: list[tuple[float, float]]) -> None:
    sources = [((lo + hi) / 2, (hi - lo) / 2) for lo, hi in intervals]
    sel = select(sources)
    count, _, _ = marzullo(intervals)
    if count * 2 <= len(intervals):
        assert sel is None
        return
    assert sel is not None
    assert sorted(sel.truechimers + sel.falsetickers) == list(range(len(sources)))
    assert len(sel.truechimers) >= sel.count
    assert sel.low <= sel.offset <= sel.high
    assert sel.offset - sel.bound <= sel.low + 1e-9
    assert sel.high <= sel.offset + sel.bound + 1e-9
    for i in sel.falsetickers:
        lo, hi = intervals[i]
        assert hi < sel.low or lo > sel.high


@settings(derandomize=True, max_examples=200)
@given(st.floats(-1e6, 1e6), intervals_st)
def test_a_point_inside_every_interval_is_selected(
    truth: float, widths: list[tuple[float, float]]
) -> None:
    # Every source's interval contains the truth: all are truechimers and the selected
    # region contains the truth.
    sources = [
        (truth + (hi - lo) / 3 - (lo % 7) / 7 * (hi - lo) / 3, (hi - lo) / 2 + 1.0)
        for lo, hi in widths
    ]
    sources = [(o, max(lam, abs(o - truth) + 1e-6)) for o, lam in sources]
    sel = select(sources)
    assert sel is not None
    assert sel.falsetickers == ()
    assert sel.low - 1e-6 <= truth <= sel.high + 1e-6
    assert abs(sel.offset - truth) <= sel.bound + 1e-6


def _sample(offset: int, delay: int, mono: int) -> NtpSample:
    return NtpSample(
        offset_ns=offset,
        delay_ns=delay,
        mono_ns=mono,
        root_delay_ns=1000,
        root_dispersion_ns=500,
        stratum=2,
        leap=0,
        precision_ns=1,
        transmit_ts=mono,
    )


def test_filter_picks_the_minimum_delay_sample() -> None:
    filt = ClockFilter()
    filt.add(_sample(900, 5000, 10))
    filt.add(_sample(100, 200, 20))
    filt.add(_sample(700, 3000, 30))
    best = filt.best(40, max_age_ns=1000)
    assert best is not None
    assert best.offset_ns == 100
    assert best.delay_ns == 200
    assert best.lambda_ns == 1000 / 2 + 500 + 200 / 2 + 1 + PHI * 20
    assert best.jitter_ns > 0


def test_filter_ignores_old_samples_and_projects_by_frequency() -> None:
    filt = ClockFilter(size=3)
    filt.add(_sample(100, 10, 0))
    filt.add(_sample(500, 900, 1_000_000))
    best = filt.best(2_000_000, max_age_ns=1_500_000, freq=1e-3)
    assert best is not None
    assert best.offset_ns == 500 + 1e-3 * 1_000_000
    assert filt.best(10**9, max_age_ns=10) is None
    for i in range(5):
        filt.add(_sample(i, i, i))
    assert len(filt) == 3
