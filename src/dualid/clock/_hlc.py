"""A thread-safe hybrid logical clock generator (Kulkarni et al., 2014)."""

from __future__ import annotations

import threading

from dualid.errors import ClockError

from ._reading import Hlc, _fast_hlc

__all__ = ["HlcGenerator", "HlcSkewError"]


class HlcSkewError(ClockError, ValueError):
    """A remote HLC is further ahead of local physical time than allowed."""


class HlcGenerator:
    """Issues strictly increasing :class:`Hlc` values.

    ``tick(physical_ns)`` is called with the clock's current physical time; if the clock's
    physical time has not advanced past the last issued value (same nanosecond, or a
    backward correction being held), the logical counter advances instead.
    """

    def __init__(
        self, last: Hlc | None = None, max_offset_ns: int = 60 * 10**9, floor_ns: int = 0
    ) -> None:
        start = last or Hlc(0, 0)
        # The last issued value as two ints (AtomicClock.now() issues without building an
        # Hlc; the object is made when someone reads it).
        self._lp = start.physical_ns
        self._ll = start.logical
        self._max_offset_ns = max_offset_ns
        self._floor = floor_ns
        self._lock = threading.Lock()

    @property
    def floor_ns(self) -> int:
        """The highest physical time passed through :meth:`issue` so far."""
        return self._floor

    def issue(self, physical_ns: int) -> tuple[int, Hlc]:
        """For clocks whose readings must never go backwards: clamp ``physical_ns`` to the
        highest value issued before (the floor), then tick. Returns the clamped physical
        time and the HLC, both decided under one lock so that they order consistently
        across threads."""
        # AtomicClock.now() inlines this method; keep the two in step.
        with self._lock:
            if physical_ns < self._floor:
                physical_ns = self._floor
            self._floor = physical_ns
            if physical_ns > self._lp:
                self._lp = physical_ns
                self._ll = 0
            else:
                self._ll += 1
            issued = _fast_hlc(self._lp, self._ll)
        return physical_ns, issued

    @property
    def last(self) -> Hlc:
        """The most recently issued value."""
        return _fast_hlc(self._lp, self._ll)

    @property
    def max_offset_ns(self) -> int:
        """How far ahead of local physical time a remote HLC may be in :meth:`observe`."""
        return self._max_offset_ns

    def tick(self, physical_ns: int) -> Hlc:
        with self._lock:
            if physical_ns > self._lp:
                self._lp = physical_ns
                self._ll = 0
            else:
                self._ll += 1
            return _fast_hlc(self._lp, self._ll)

    def observe(self, remote: Hlc, physical_ns: int) -> Hlc:
        """Merge a timestamp received from another node and return a local HLC that orders
        after both. Rejects a remote further ahead than ``max_offset_ns``."""
        if remote.physical_ns - physical_ns > self._max_offset_ns:
            raise HlcSkewError(
                "remote HLC is too far ahead of local time",
                ahead_ns=remote.physical_ns - physical_ns,
                max_offset_ns=self._max_offset_ns,
            )
        with self._lock:
            last_p, last_l = self._lp, self._ll
            top = max(physical_ns, last_p, remote.physical_ns)
            if top == last_p == remote.physical_ns:
                logical = max(last_l, remote.logical) + 1
            elif top == last_p:
                logical = last_l + 1
            elif top == remote.physical_ns:
                logical = remote.logical + 1
            else:
                logical = 0
            self._lp, self._ll = top, logical
            return _fast_hlc(top, logical)
