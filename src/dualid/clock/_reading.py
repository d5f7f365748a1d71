"""The value types every clock returns, and the protocol the SDK depends on."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = [
    "EPOCH",
    "Clock",
    "ClockReading",
    "ClockStatus",
    "Hlc",
    "datetime_from_ns",
    "datetime_to_ns",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_from_ns(ns: int) -> datetime:
    """Aware UTC datetime for nanoseconds since the Unix epoch (truncated to microseconds)."""
    return EPOCH + timedelta(0, 0, ns // 1000)


def datetime_to_ns(value: datetime) -> int:
    """Nanoseconds since the Unix epoch for an aware datetime."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


class ClockStatus(str, enum.Enum):  # noqa: UP042 - str() must stay "ClockStatus.X"
    """How much a reading can be trusted.

    ``SYNCED``: the latest sync succeeded and is not overdue. ``HOLDOVER``: running on the
    learned frequency since the last good sync, with a growing bound. ``UNSYNCED``: no
    usable sync (never synced, or the holdover has gone on past ``void_after``).
    """

    SYNCED = "synced"
    HOLDOVER = "holdover"
    UNSYNCED = "unsynced"


@dataclass(frozen=True, order=True, slots=True)
class Hlc:
    """A hybrid logical clock timestamp: physical nanoseconds since the Unix epoch plus a
    logical counter. Instances order totally; ``str()`` gives a fixed-width string that
    sorts the same way, which is what the store keeps.
    """

    physical_ns: int
    logical: int = 0

    def __str__(self) -> str:
        return f"{self.physical_ns:020d}.{self.logical:06d}"

    @classmethod
    def parse(cls, text: str) -> Hlc:
        """Inverse of ``str()``; raises ``ValueError`` on anything else."""
        physical, sep, logical = text.partition(".")
        if not sep or not physical.isdigit() or not logical.isdigit():
            raise ValueError("not an HLC timestamp")
        return cls(int(physical), int(logical))


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One reading of a clock.

    ``time`` is the best estimate (aware, UTC); the true time lies in
    ``[earliest, latest]`` = ``time ± uncertainty`` as long as the clock's model holds.
    ``hlc`` is unique and strictly increasing within a process.
    """

    time: datetime
    uncertainty: timedelta
    status: ClockStatus
    hlc: Hlc

    @property
    def earliest(self) -> datetime:
        return self.time - self.uncertainty

    @property
    def latest(self) -> datetime:
        return self.time + self.uncertainty


@runtime_checkable
class Clock(Protocol):
    """What the SDK needs from a clock: one method, ``now()``, that never raises."""

    def now(self) -> ClockReading: ...


# Fast constructors for the hot path (``AtomicClock.now()``): they fill the slots directly
# instead of going through the frozen dataclass ``__init__`` (about half the cost). The
# results are ordinary, fully initialised instances.
_new = object.__new__
_set_physical = vars(Hlc)["physical_ns"].__set__
_set_logical = vars(Hlc)["logical"].__set__
_set_time = vars(ClockReading)["time"].__set__
_set_uncertainty = vars(ClockReading)["uncertainty"].__set__
_set_status = vars(ClockReading)["status"].__set__
_set_hlc = vars(ClockReading)["hlc"].__set__


def _fast_hlc(physical_ns: int, logical: int) -> Hlc:
    value: Hlc = _new(Hlc)
    _set_physical(value, physical_ns)
    _set_logical(value, logical)
    return value


def _fast_reading(
    time: datetime, uncertainty: timedelta, status: ClockStatus, hlc: Hlc
) -> ClockReading:
    value: ClockReading = _new(ClockReading)
    _set_time(value, time)
    _set_uncertainty(value, uncertainty)
    _set_status(value, status)
    _set_hlc(value, hlc)
    return value
