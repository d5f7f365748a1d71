"""A deterministic clock for tests: it moves only when told to."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from dualid.clock import ClockReading, ClockStatus, Hlc, HlcGenerator, datetime_to_ns
from dualid.errors import InvalidInput

__all__ = ["DEFAULT_START", "FakeClock"]

#: Where a :class:`FakeClock` starts when no ``start`` is given.
DEFAULT_START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _duration(value: timedelta | float, name: str) -> timedelta:
    if isinstance(value, timedelta):
        step = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            step = timedelta(seconds=value)
        except (OverflowError, ValueError):  # NaN, infinite, or past timedelta's range
            raise InvalidInput(f"{name} is not a representable duration", field=name) from None
    else:
        raise InvalidInput(f"{name} must be a timedelta or a number of seconds", field=name)
    if step < timedelta(0):
        raise InvalidInput(f"{name} must not be negative", field=name)
    return step


def _aware(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput("FakeClock needs an aware datetime")
    return value.astimezone(UTC)


class FakeClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    It has the reading API of the real clocks (``now()`` returns a
    :class:`~dualid.clock.ClockReading` with a unique, increasing ``hlc``; ``observe()``
    merges a remote HLC), so anything that takes a clock can be driven through time
    without sleeping:

    >>> clock = FakeClock(start=datetime(2026, 5, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(days=2))
    >>> clock.now().time.isoformat()
    '2026-05-03T00:00:00+00:00'

    Two notions of time: :attr:`true_time` is what the test controls; ``now().time`` is
    what the simulated clock *reports*, which differs from it only by simulated drift.

    Options (all keyword-only except ``start``):

    ``uncertainty``: the bound reported while online. ``status``: the status reported
    while online (``SYNCED`` by default). ``holdover_rate``: how fast the bound grows while
    offline, in seconds per second (20 ppm by default). ``void_after``: after this long
    offline the status becomes ``UNSYNCED``, as :class:`~dualid.clock.AtomicClock` does
    (one day by default; ``None`` never). ``drift_ppm``: the reported time runs this many
    parts per million fast (positive) or slow (negative) relative to the true time, as a
    drifting local oscillator does; the error accumulates until the next
    :meth:`go_online` (a successful sync) or :meth:`set` corrects it. ``tick``: move the
    true time forward by this step *after* every ``now()`` (default 0: time stands still),
    for code that waits for time to pass. ``max_hlc_offset``: how far ahead a remote HLC
    may be in :meth:`observe`.

    Going offline simulates lost NTP connectivity: ``HOLDOVER``, with the bound growing by
    ``holdover_rate`` per second of fake time offline, then ``UNSYNCED`` after
    ``void_after``. :meth:`go_online` (or leaving an :meth:`offline` block) restores the
    online status and base bound and corrects any drift error:

    >>> clock = FakeClock(uncertainty=timedelta(milliseconds=5), holdover_rate=1e-4)
    >>> with clock.offline():
    ...     clock.advance(timedelta(minutes=10))
    ...     reading = clock.now()
    >>> reading.status.value, reading.uncertainty
    ('holdover', datetime.timedelta(microseconds=65000))
    >>> clock.now().status.value
    'synced'

    The clock is thread-safe.
    """

    def __init__(
        self,
        start: datetime = DEFAULT_START,
        *,
        uncertainty: timedelta = timedelta(milliseconds=5),
        status: ClockStatus = ClockStatus.SYNCED,
        holdover_rate: float = 20e-6,
        drift_ppm: float = 0.0,
        void_after: timedelta | float | None = timedelta(days=1),
        tick: timedelta | float = 0.0,
        max_hlc_offset: timedelta | float = timedelta(seconds=60),
    ) -> None:
        self._true = _aware(start)
        self._base_uncertainty = _duration(uncertainty, "uncertainty")
        self._status = ClockStatus(status)
        if holdover_rate < 0:
            raise InvalidInput("holdover_rate must not be negative", field="holdover_rate")
        self._holdover_rate = float(holdover_rate)
        self._drift_ppm = float(drift_ppm)
        self._void_after = None if void_after is None else _duration(void_after, "void_after")
        self._tick = _duration(tick, "tick")
        self._offline_since: datetime | None = None
        # The reported time is true + carried + (true - anchor) * drift: ``carried`` keeps
        # the error accumulated under earlier drift rates when the rate changes.
        self._drift_anchor = self._true
        self._carried = timedelta(0)
        offset = _duration(max_hlc_offset, "max_hlc_offset")
        self._hlc = HlcGenerator(max_offset_ns=offset // timedelta(microseconds=1) * 1000)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ inspection

    @property
    def true_time(self) -> datetime:
        """The fake 'true' time, without drift or uncertainty."""
        return self._true

    @property
    def error(self) -> timedelta:
        """How far the reported time is from the true time right now (drift), without
        issuing a reading: ``now().time - true_time``."""
        with self._lock:
            return self._drift_error()

    @property
    def online(self) -> bool:
        """False between :meth:`go_offline` and :meth:`go_online`."""
        return self._offline_since is None

    @property
    def drift_ppm(self) -> float:
        return self._drift_ppm

    @property
    def last_hlc(self) -> Hlc:
        """The most recently issued HLC."""
        return self._hlc.last

    # ------------------------------------------------------------------ moving time

    def advance(self, delta: timedelta | float | None = None, /, **units: float) -> None:
        """Move time forward by ``delta`` (a timedelta, or seconds), or by ``timedelta``
        keyword units: ``clock.advance(hours=2)``."""
        if delta is not None and units:
            raise InvalidInput("give advance() a delta or keyword units, not both")
        if delta is None:
            try:
                delta = timedelta(**units)
            except TypeError as exc:
                raise InvalidInput(f"advance(): {exc}") from None
        backwards = (
            delta < timedelta(0)
            if isinstance(delta, timedelta)
            else isinstance(delta, int | float) and delta < 0
        )
        if backwards:
            raise InvalidInput("advance() only moves forward; use set() to jump")
        step = _duration(delta, "delta")
        with self._lock:
            self._true += step

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (forwards or backwards; the HLC still only increases). The
        reported time is set exactly: any accumulated drift error is cleared."""
        value = _aware(value)
        with self._lock:
            self._true = value
            self._drift_anchor = value
            self._carried = timedelta(0)

    def set_tick(self, tick: timedelta | float) -> None:
        """Change how far each ``now()`` moves the time afterwards (0 stops it)."""
        step = _duration(tick, "tick")
        with self._lock:
            self._tick = step

    # ------------------------------------------------------------------ quality knobs

    def set_status(self, status: ClockStatus) -> None:
        """The status reported while online. (While offline the status is ``HOLDOVER``,
        then ``UNSYNCED`` after ``void_after``.)"""
        with self._lock:
            self._status = ClockStatus(status)

    def set_uncertainty(self, uncertainty: timedelta) -> None:
        """The base bound (while online; offline growth is added to it)."""
        value = _duration(uncertainty, "uncertainty")
        with self._lock:
            self._base_uncertainty = value

    def set_drift_ppm(self, ppm: float) -> None:
        """Change the simulated drift from now on; the error accumulated so far is kept
        (the reported time does not jump)."""
        with self._lock:
            self._carried = self._drift_error()
            self._drift_anchor = self._true
            self._drift_ppm = float(ppm)

    def go_offline(self) -> None:
        """Lose NTP connectivity: ``HOLDOVER`` with a growing bound from now on. Calling it
        again while offline changes nothing (the bound keeps growing from the first call)."""
        with self._lock:
            if self._offline_since is None:
                self._offline_since = self._true

    def go_online(self) -> None:
        """A successful sync: the online status and base bound come back and the drift
        error accumulated so far is corrected."""
        with self._lock:
            self._offline_since = None
            self._drift_anchor = self._true
            self._carried = timedelta(0)

    @contextlib.contextmanager
    def offline(self) -> Iterator[FakeClock]:
        """``with clock.offline(): ...`` runs the block offline and goes back online
        afterwards (unless the clock was already offline when the block began)."""
        was_online = self.online
        self.go_offline()
        try:
            yield self
        finally:
            if was_online:
                self.go_online()

    # ------------------------------------------------------------------ reading

    def _drift_error(self) -> timedelta:
        elapsed = (self._true - self._drift_anchor).total_seconds()
        return self._carried + timedelta(seconds=elapsed * self._drift_ppm * 1e-6)

    def now(self) -> ClockReading:
        """The current reading (then, with ``tick``, time moves on by one step)."""
        with self._lock:
            shown = self._true + self._drift_error()
            uncertainty = self._base_uncertainty
            status = self._status
            if self._offline_since is not None:
                # max(): a set() back to before going offline must not shrink the bound.
                offline = max(self._true - self._offline_since, timedelta(0))
                uncertainty += offline * self._holdover_rate
                void = self._void_after
                status = (
                    ClockStatus.UNSYNCED
                    if void is not None and offline >= void
                    else ClockStatus.HOLDOVER
                )
            hlc = self._hlc.tick(datetime_to_ns(shown))
            self._true += self._tick
        return ClockReading(time=shown, uncertainty=uncertainty, status=status, hlc=hlc)

    def observe(self, remote: Hlc | str) -> Hlc:
        """Merge an HLC received from another node, as
        :meth:`dualid.clock.AtomicClock.observe` does: returns a local HLC ordered after it
        and after everything issued so far; raises :class:`~dualid.clock.HlcSkewError`
        when ``remote`` is more than ``max_hlc_offset`` ahead."""
        value = Hlc.parse(remote) if isinstance(remote, str) else remote
        with self._lock:
            physical = datetime_to_ns(self._true + self._drift_error())
        return self._hlc.observe(value, physical)

    def __repr__(self) -> str:
        state = "online" if self.online else "offline"
        return f"FakeClock(true_time={self._true.isoformat()}, {state})"
