"""Time for dualid.

Every timestamp the SDK writes comes from a :class:`Clock`: any object with a ``now()``
that returns a :class:`ClockReading` and never raises. Built in:

* :class:`SystemClock`: the OS clock, reported as ``UNSYNCED`` with a fixed bound.
* :class:`AtomicClock`: NTP-synced time with an honest error bound and offline holdover.

Tests use :class:`dualid.testing.FakeClock` and :class:`dualid.testing.FakeNtpServer`.
See ``docs/clock.md`` for the model (the bound, holdover, poll etiquette, persistence).
"""

from ._atomic import (
    PUBLIC_MIN_POLL,
    AtomicClock,
    ClockState,
    Ordering,
    ServerStatus,
    SyncReport,
    default_monotonic_ns,
    order,
)
from ._drift import DriftEstimate
from ._hlc import HlcGenerator, HlcSkewError
from ._ntp import parse_servers
from ._reading import Clock, ClockReading, ClockStatus, Hlc, datetime_from_ns, datetime_to_ns
from ._system import SystemClock, system_time, system_time_ns

__all__ = [
    "PUBLIC_MIN_POLL",
    "AtomicClock",
    "Clock",
    "ClockReading",
    "ClockState",
    "ClockStatus",
    "DriftEstimate",
    "Hlc",
    "HlcGenerator",
    "HlcSkewError",
    "Ordering",
    "ServerStatus",
    "SyncReport",
    "SystemClock",
    "datetime_from_ns",
    "datetime_to_ns",
    "default_monotonic_ns",
    "order",
    "parse_servers",
    "system_time",
    "system_time_ns",
]
