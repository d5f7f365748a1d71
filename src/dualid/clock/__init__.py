"""Time for dualid.

Every timestamp the SDK writes comes from a :class:`Clock`: any object with a ``now()``
that returns a :class:`ClockReading` and never raises. Built in:

* :class:`SystemClock`: the OS clock, reported as ``UNSYNCED`` with a fixed bound.
* :class:`AtomicClock`: NTP-synced time with an honest error bound and offline holdover.

Tests use :class:`dualid.testing.FakeClock`.
"""

from ._hlc import HlcGenerator, HlcSkewError
from ._reading import Clock, ClockReading, ClockStatus, Hlc, datetime_from_ns, datetime_to_ns
from ._system import SystemClock

__all__ = [
    "Clock",
    "ClockReading",
    "ClockStatus",
    "Hlc",
    "HlcGenerator",
    "HlcSkewError",
    "SystemClock",
    "datetime_from_ns",
    "datetime_to_ns",
]
