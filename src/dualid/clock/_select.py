"""Source selection: Marzullo's interval intersection with a majority requirement.

Each source says "the true offset is in ``[offset - lambda, offset + lambda]``". If most
sources tell the truth, the truth lies where most intervals overlap. Sources whose
interval misses that region are falsetickers; the others (truechimers) are combined,
weighted by ``1 / lambda``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Selection", "marzullo", "select"]


@dataclass(frozen=True, slots=True)
class Selection:
    """The outcome of :func:`select`.

    ``low``/``high`` bound the region where the largest number (``count``) of intervals
    overlap (the hull of all such regions if there are several); ``offset`` is the weighted
    combination of the truechimers clamped into that region; ``bound`` the half-width of
    an interval around ``offset`` that contains the whole region, so the true offset is in
    ``[offset - bound, offset + bound]`` whenever a majority of sources tell the truth.
    """

    offset: float
    bound: float
    low: float
    high: float
    count: int
    truechimers: tuple[int, ...]
    falsetickers: tuple[int, ...]


def marzullo(intervals: Sequence[tuple[float, float]]) -> tuple[int, float, float]:
    """Largest number of overlapping closed intervals ``(low, high)`` and the hull of the
    points where that many overlap. Returns ``(0, 0.0, 0.0)`` for no intervals."""
    if not intervals:
        return 0, 0.0, 0.0
    edges: list[tuple[float, int]] = []
    for low, high in intervals:
        if high < low:
            raise ValueError("interval with high < low")
        edges.append((low, 0))  # starts sort before ends at one point: intervals are closed
        edges.append((high, 1))
    edges.sort()
    best = 0
    count = 0
    regions: list[tuple[float, float]] = []
    open_at: float | None = None
    for value, kind in edges:
        if kind == 0:
            count += 1
            if count > best:
                best, regions, open_at = count, [], value
            elif count == best:
                open_at = value
        else:
            if count == best and open_at is not None:
                regions.append((open_at, value))
                open_at = None
            count -= 1
    best_low = min(r[0] for r in regions)
    best_high = max(r[1] for r in regions)
    return best, best_low, best_high


def select(sources: Sequence[tuple[float, float]], *, min_count: int = 1) -> Selection | None:
    """Select among ``(offset, lambda)`` pairs. ``None`` when fewer than a strict majority
    of the sources (and fewer than ``min_count``) agree on a common region."""
    intervals = [(o - lam, o + lam) for o, lam in sources]
    count, low, high = marzullo(intervals)
    n = len(intervals)
    if n == 0 or count * 2 <= n or count < min_count:
        return None
    truechimers = tuple(i for i, (lo, hi) in enumerate(intervals) if lo <= high and hi >= low)
    falsetickers = tuple(i for i in range(n) if i not in truechimers)
    weights = [1.0 / max(sources[i][1], 1.0) for i in truechimers]
    total = sum(weights)
    offset = sum(w * sources[i][0] for w, i in zip(weights, truechimers, strict=True)) / total
    offset = min(max(offset, low), high)
    bound = max(offset - low, high - offset)
    return Selection(
        offset=offset,
        bound=bound,
        low=low,
        high=high,
        count=count,
        truechimers=truechimers,
        falsetickers=falsetickers,
    )
