"""Learning the local oscillator's frequency error from successive syncs.

Each successful sync gives one point: at local monotonic time ``m`` the true time was
``m + d`` (within ``err``). If the local clock runs fast by ``f`` (dimensionless, 1e-6 =
1 ppm), ``d`` falls by ``f`` per unit of ``m``. A weighted least-squares line through the
recent points gives ``-f`` as its slope.

Sign convention, the same everywhere dualid shows a frequency (``DriftEstimate.freq``,
``ClockState.frequency_ppm``, ``SyncReport.frequency_ppm``, ``dualid clock status``):
**positive means the local clock runs fast**. The correction applied to the timeline is its
opposite (:attr:`DriftEstimate.correction`).

The frequency's uncertainty (``skew``) is honest, not just statistical: the slope is a
linear combination ``sum(c_i * d_i)`` of the points, so if each point is off by at most
``err_i`` the slope is off by at most ``sum(|c_i| * err_i)``. To that the statistical
standard error of the fit is added (it catches frequency wander the per-point bounds do
not explain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DriftEstimate", "DriftPoint", "FrequencyEstimator"]


@dataclass(frozen=True, slots=True)
class DriftPoint:
    mono_ns: int
    diff_ns: int  # true time minus monotonic time
    err_ns: float  # half-width of the interval around the true time


@dataclass(frozen=True, slots=True)
class DriftEstimate:
    """The local clock's learned frequency error.

    ``freq``: the error, dimensionless (1e-6 = 1 ppm); **positive = the local clock runs
    fast** (true time advances ``1 - freq`` per second of the local clock), the sign of
    ``clock.state().frequency_ppm``, which is ``freq * 1e6``. ``skew``: bound on the error
    of ``freq``. ``residual``: how far the newest estimate moved from the previous one
    (frequency wander). ``points``: the syncs it was fitted to. ``learned``: whether
    ``freq`` comes from measurements (at least two points) rather than a prior.
    """

    freq: float
    skew: float
    residual: float
    points: int
    learned: bool

    @property
    def correction(self) -> float:
        """The rate correction the clock applies, ``-freq``: true time advances
        ``1 + correction`` per monotonic unit."""
        return -self.freq


class FrequencyEstimator:
    """Keeps up to ``max_points`` recent :class:`DriftPoint` values within ``max_span_ns``.

    ``max_drift`` (e.g. 500e-6) is the worst frequency error assumed for an unmeasured
    oscillator; estimates whose uncertainty is not below it are not used (two syncs a few
    milliseconds apart say nothing useful about frequency).
    """

    def __init__(
        self,
        *,
        max_drift: float,
        prior_freq: float = 0.0,
        prior_skew: float | None = None,
        max_points: int = 16,
        max_span_ns: int = 7 * 86_400 * 10**9,
        min_spacing_ns: int = 10**9,
    ) -> None:
        self.max_drift = max_drift
        self.max_points = max_points
        self.max_span_ns = max_span_ns
        self.min_spacing_ns = min_spacing_ns
        self.points: list[DriftPoint] = []
        skew = max_drift if prior_skew is None else min(prior_skew, max_drift)
        self.estimate = DriftEstimate(prior_freq, skew, 0.0, 0, False)

    def add(self, point: DriftPoint) -> DriftEstimate:
        """Add a point and return the updated estimate (also kept in ``estimate``)."""
        if self.points and point.mono_ns - self.points[-1].mono_ns < self.min_spacing_ns:
            # Too close to the previous point to tell frequency apart: keep the better one.
            if point.err_ns <= self.points[-1].err_ns:
                self.points[-1] = point
        else:
            self.points.append(point)
        newest = self.points[-1].mono_ns
        self.points = [p for p in self.points if newest - p.mono_ns <= self.max_span_ns]
        del self.points[: max(0, len(self.points) - self.max_points)]
        self.estimate = self._fit()
        return self.estimate

    def restore(self, points: list[DriftPoint], estimate: DriftEstimate) -> None:
        self.points = list(points)[-self.max_points :]
        self.estimate = estimate

    def _fit(self) -> DriftEstimate:
        previous = self.estimate
        pts = self.points
        if len(pts) < 2:
            return DriftEstimate(
                previous.freq, previous.skew, previous.residual, len(pts), previous.learned
            )
        m0, d0 = pts[-1].mono_ns, pts[-1].diff_ns
        xs = [(p.mono_ns - m0) / 1e9 for p in pts]  # seconds
        ys = [float(p.diff_ns - d0) for p in pts]  # ns
        ws = [1.0 / max(p.err_ns, 1.0) ** 2 for p in pts]
        sw = sum(ws)
        xbar = sum(w * x for w, x in zip(ws, xs, strict=True)) / sw
        ybar = sum(w * y for w, y in zip(ws, ys, strict=True)) / sw
        sxx = sum(w * (x - xbar) ** 2 for w, x in zip(ws, xs, strict=True))
        if sxx <= 0.0:
            return previous
        coeffs = [w * (x - xbar) / sxx for w, x in zip(ws, xs, strict=True)]
        slope = sum(c * y for c, y in zip(coeffs, ys, strict=True))  # ns per s = 1e-9
        worst = sum(abs(c) * p.err_ns for c, p in zip(coeffs, pts, strict=True))
        stat = 0.0
        if len(pts) > 2:
            intercept = ybar - slope * xbar
            ssr = sum(
                w * (y - intercept - slope * x) ** 2 for w, x, y in zip(ws, xs, ys, strict=True)
            )
            stat = math.sqrt(ssr / (len(pts) - 2) / sxx)
        freq = -slope * 1e-9  # a clock running fast makes true - local fall
        skew = (worst + stat) * 1e-9
        if skew >= self.max_drift or abs(freq) > 2 * self.max_drift:
            # Not informative yet (or nonsense): keep the prior.
            return DriftEstimate(
                previous.freq, previous.skew, previous.residual, len(pts), previous.learned
            )
        residual = abs(freq - previous.freq) if previous.learned else 0.0
        return DriftEstimate(freq, skew, residual, len(pts), True)
