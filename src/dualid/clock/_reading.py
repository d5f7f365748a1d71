"""The value types every clock returns, and the protocol the SDK depends on."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

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


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ClockReading:
    """One reading of a clock.

    ``time`` is the best estimate (aware, UTC); the true time lies in
    ``[earliest, latest]`` = ``time ± uncertainty`` as long as the clock's model holds.
    ``hlc`` is unique and strictly increasing within a process.

    :meth:`AtomicClock.now() <dualid.clock.AtomicClock.now>` decides a reading whole
    when it is taken (the instant, the bound, the status and the HLC) and returns an
    instance of a private subclass that builds the ``time``, ``uncertainty`` and ``hlc``
    objects from those numbers the first time each is read. Readings compare, hash,
    print, pickle, copy and :func:`dataclasses.replace` alike, whichever way they were
    made.
    """

    time: datetime
    uncertainty: timedelta
    status: ClockStatus
    hlc: Hlc

    def _key(self) -> tuple[datetime, timedelta, ClockStatus, Hlc]:
        return (self.time, self.uncertainty, self.status, self.hlc)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClockReading):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ClockReading(time={self.time!r}, uncertainty={self.uncertainty!r}, "
            f"status={self.status!r}, hlc={self.hlc!r})"
        )

    @property
    def earliest(self) -> datetime:
        return self.time - self.uncertainty

    @property
    def latest(self) -> datetime:
        return self.time + self.uncertainty


class _LazyReading(ClockReading):
    """A :class:`ClockReading` from ``AtomicClock.now()``: one object per call; the
    datetime, timedelta and Hlc are built on first access and kept. ``_raw`` is
    ``[time ns, uncertainty us, hlc physical ns, hlc logical, time, uncertainty, hlc]``
    (the last three None until built)."""

    __slots__ = ("_raw",)
    _raw: list[Any]

    def __init__(
        self, time: datetime, uncertainty: timedelta, status: ClockStatus, hlc: Hlc
    ) -> None:  # what dataclasses.replace() calls
        _set_status(self, status)
        _set_raw(self, [0, 0, 0, 0, time, uncertainty, hlc])

    @property
    def time(self) -> datetime:
        raw = self._raw
        value: datetime | None = raw[4]
        if value is None:
            value = raw[4] = _datetime_of_ns(raw[0])
        return value

    @property
    def uncertainty(self) -> timedelta:
        raw = self._raw
        value: timedelta | None = raw[5]
        if value is None:
            value = raw[5] = timedelta(0, 0, raw[1])
        return value

    @property
    def hlc(self) -> Hlc:
        raw = self._raw
        value: Hlc | None = raw[6]
        if value is None:
            value = raw[6] = _fast_hlc(raw[2], raw[3])
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles and copies as the plain reading it equals.
        return (ClockReading, self._key())


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
_set_status = vars(ClockReading)["status"].__set__
_set_raw = vars(_LazyReading)["_raw"].__set__
_UTC = UTC
_datetime = datetime
# The calendar fields of the second most recently converted (readings of one second share
# them): building the datetime from its fields is cheaper than EPOCH + timedelta, whose
# normalisation of ~1.7e15 microseconds costs more than the rest of a reading.
_second: tuple[int, tuple[int, int, int, int, int, int]] = (-1, (1970, 1, 1, 0, 0, 0))


def _datetime_of_ns(ns: int) -> datetime:
    """:func:`datetime_from_ns`, faster for readings taken in the same second."""
    global _second
    us = ns // 1000
    second, micro = divmod(us, 1_000_000)
    cal = _second
    if cal[0] != second:
        day = EPOCH + timedelta(0, second)
        cal = _second = (
            second,
            (day.year, day.month, day.day, day.hour, day.minute, day.second),
        )
    year, month, mday, hour, minute, sec = cal[1]
    return _datetime(year, month, mday, hour, minute, sec, micro, _UTC)


def _lazy_reading(
    status: ClockStatus, time_ns: int, uncertainty_us: int, physical_ns: int, logical: int
) -> ClockReading:
    """A reading whose time, uncertainty and HLC objects are built on first access (the
    hot path of ``AtomicClock.now()``: one object per call instead of four)."""
    value: ClockReading = _new(_LazyReading)
    _set_status(value, status)
    _set_raw(value, [time_ns, uncertainty_us, physical_ns, logical, None, None, None])
    return value


def _fast_hlc(physical_ns: int, logical: int) -> Hlc:
    value: Hlc = _new(Hlc)
    _set_physical(value, physical_ns)
    _set_logical(value, logical)
    return value
