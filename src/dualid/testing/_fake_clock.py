"""A deterministic clock for tests: it moves only when told to."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from dualid.clock import ClockReading, ClockStatus, HlcGenerator, datetime_to_ns
from dualid.errors import InvalidInput

__all__ = ["FakeClock"]

DEFAULT_START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    It has the same reading API as the real clocks (``now()`` returns a
    :class:`~dualid.clock.ClockReading` with a unique, increasing ``hlc``), so anything that
    takes a clock can be driven through time without sleeping::

        clock = FakeClock(start=datetime(2026, 5, 1, tzinfo=UTC))
        clock.advance(timedelta(days=2))

    ``go_offline()`` switches to ``HOLDOVER`` and grows the uncertainty by
    ``holdover_rate`` (seconds per second) as fake time passes; ``go_online()`` restores
    ``SYNCED`` with the base uncertainty. ``drift_ppm`` makes the reported time run fast
    (positive) or slow relative to the fake true time, as a drifting local oscillator does.
    """

    def __init__(
        self,
        start: datetime = DEFAULT_START,
        *,
        uncertainty: timedelta = timedelta(milliseconds=5),
        status: ClockStatus = ClockStatus.SYNCED,
        holdover_rate: float = 20e-6,
        drift_ppm: float = 0.0,
    ) -> None:
        self._check_aware(start)
        self._true = start
        self._base_uncertainty = uncertainty
        self._status = status
        self._holdover_rate = holdover_rate
        self._drift_ppm = drift_ppm
        self._offline_since: datetime | None = None
        self._drift_anchor = start
        self._hlc = HlcGenerator()
        self._lock = threading.Lock()

    @staticmethod
    def _check_aware(value: datetime) -> None:
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput("FakeClock needs an aware datetime")

    @property
    def true_time(self) -> datetime:
        """The fake 'true' time, without drift or uncertainty."""
        return self._true

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward by ``delta`` (a timedelta, or seconds)."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise InvalidInput("advance() only moves forward; use set() to jump")
        with self._lock:
            self._true += step

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (forwards or backwards; the HLC still only increases)."""
        self._check_aware(value)
        with self._lock:
            self._true = value.astimezone(UTC)
            self._drift_anchor = self._true

    def set_status(self, status: ClockStatus) -> None:
        with self._lock:
            self._status = status

    def set_uncertainty(self, uncertainty: timedelta) -> None:
        with self._lock:
            self._base_uncertainty = uncertainty

    def go_offline(self) -> None:
        with self._lock:
            self._offline_since = self._true
            self._status = ClockStatus.HOLDOVER

    def go_online(self) -> None:
        with self._lock:
            self._offline_since = None
            self._status = ClockStatus.SYNCED
            self._drift_anchor = self._true

    def now(self) -> ClockReading:
        with self._lock:
            elapsed = (self._true - self._drift_anchor).total_seconds()
            shown = self._true + timedelta(seconds=elapsed * self._drift_ppm * 1e-6)
            uncertainty = self._base_uncertainty
            if self._offline_since is not None:
                offline = (self._true - self._offline_since).total_seconds()
                uncertainty += timedelta(seconds=offline * self._holdover_rate)
            hlc = self._hlc.tick(datetime_to_ns(shown))
            return ClockReading(time=shown, uncertainty=uncertainty, status=self._status, hlc=hlc)
