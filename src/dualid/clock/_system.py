"""The plain system clock: wall time with a fixed assumed bound, never synced."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from ._hlc import HlcGenerator
from ._reading import ClockReading, ClockStatus, datetime_from_ns

__all__ = ["SystemClock", "system_time", "system_time_ns"]


def system_time() -> datetime:
    """The operating system's wall clock, aware UTC. The only sanctioned wall-clock read
    outside the clock package is through this function (P8)."""
    return datetime.now(UTC)


def system_time_ns() -> int:
    return time.time_ns()


class SystemClock:
    """The operating system's clock, reported honestly as ``UNSYNCED``.

    The timeline never goes backwards: if the OS clock is set back, readings hold at the
    last issued time (the HLC's logical counter advances) until the OS clock catches up.
    ``assumed_error`` is the bound reported with every reading.
    """

    def __init__(self, assumed_error: timedelta = timedelta(seconds=10)) -> None:
        self._assumed_error = assumed_error
        self._hlc = HlcGenerator()
        self._lock = threading.Lock()
        self._last_ns = 0

    def now(self) -> ClockReading:
        with self._lock:
            ns = max(time.time_ns(), self._last_ns)
            self._last_ns = ns
            hlc = self._hlc.tick(ns)
        return ClockReading(
            time=datetime_from_ns(ns),
            uncertainty=self._assumed_error,
            status=ClockStatus.UNSYNCED,
            hlc=hlc,
        )
