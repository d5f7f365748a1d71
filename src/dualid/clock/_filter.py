"""Per-server clock filter: keep the recent samples, use the one with the smallest delay.

Network queueing only ever adds delay, and added delay is what makes an offset wrong (the
error of one exchange is at most half its round trip), so the minimum-delay sample of the
last few is the most trustworthy one (RFC 5905 section 10, chrony's filter)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ._ntp import NtpSample

__all__ = ["PHI", "ClockFilter", "FilteredSource"]

#: Frequency tolerance assumed for a server's own clock between its updates (RFC 5905).
PHI = 15e-6


@dataclass(frozen=True, slots=True)
class FilteredSource:
    """The filter's output for one server, projected to ``mono_ns``.

    ``offset_ns`` is the server's time minus local time; ``lambda_ns`` the half-width of the
    interval that contains the true offset if the server tells the truth: root delay / 2 +
    root dispersion + own delay / 2 + precision + growth with the sample's age.
    """

    offset_ns: float
    lambda_ns: float
    delay_ns: int
    jitter_ns: float
    root_distance_ns: int
    sample_mono_ns: int
    mono_ns: int


class ClockFilter:
    """A bounded history of :class:`NtpSample` for one server."""

    def __init__(self, size: int = 8) -> None:
        self._samples: deque[NtpSample] = deque(maxlen=size)

    def add(self, sample: NtpSample) -> None:
        self._samples.append(sample)

    def clear(self) -> None:
        self._samples.clear()

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def samples(self) -> tuple[NtpSample, ...]:
        return tuple(self._samples)

    def best(
        self,
        mono_ns: int,
        *,
        max_age_ns: int,
        freq: float = 0.0,
        skew: float = 0.0,
    ) -> FilteredSource | None:
        """The minimum-delay sample among those at most ``max_age_ns`` old, with its offset
        carried forward to ``mono_ns`` by the rate correction ``freq`` (true time advances
        ``1 + freq`` per monotonic unit: the opposite of the clock's frequency error) and its
        interval widened by ``(PHI + skew) * age``. As in RFC 5905, "minimum delay" counts a
        sample's age: the delay is compared as ``delay / 2 + (PHI + skew) * age``, so an old
        sample loses to a fresh one unless the fresh one was much more delayed.
        ``None`` when there is no recent sample."""
        recent = [s for s in self._samples if 0 <= mono_ns - s.mono_ns <= max_age_ns]
        if not recent:
            return None
        rate = PHI + skew
        chosen = min(
            recent, key=lambda s: (s.delay_ns / 2 + rate * (mono_ns - s.mono_ns), -s.mono_ns)
        )
        age = mono_ns - chosen.mono_ns
        offset = chosen.offset_ns + freq * age
        if len(recent) > 1:
            jitter = math.sqrt(
                sum((s.offset_ns - chosen.offset_ns) ** 2 for s in recent) / (len(recent) - 1)
            )
        else:
            jitter = 0.0
        lam = (
            chosen.root_delay_ns / 2
            + chosen.root_dispersion_ns
            + chosen.delay_ns / 2
            + chosen.precision_ns
            + (PHI + skew) * age
        )
        return FilteredSource(
            offset_ns=offset,
            lambda_ns=lam,
            delay_ns=chosen.delay_ns,
            jitter_ns=jitter,
            root_distance_ns=chosen.root_delay_ns // 2 + chosen.root_dispersion_ns,
            sample_mono_ns=chosen.mono_ns,
            mono_ns=mono_ns,
        )
