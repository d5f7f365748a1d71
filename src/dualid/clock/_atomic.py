"""AtomicClock: NTP-synced time with an honest error bound, holdover, learned drift, a
monotonic timeline and a hybrid logical clock.

The model in one paragraph: the process measures elapsed time with a monotonic clock
(``CLOCK_BOOTTIME`` on Linux, which keeps counting through suspend). A successful sync
gives an *anchor*: at monotonic time ``m0`` the true time was ``T0`` within ``B0``. From
then on ``time(m) = T0 + (m - m0) * (1 - freq)`` where ``freq`` is the learned frequency
error of the local clock (positive = it runs fast), and the bound grows as
``B0 + (skew + |residual| + floor) * (m - m0)``. A correction that would move the
timeline backwards is slewed (or, if large, held) instead of stepped; while it is being
worked off, the bound includes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dualid._checks import unstorable
from dualid.errors import InvalidInput

from ._drift import DriftEstimate, DriftPoint, FrequencyEstimator
from ._exchange import ExchangeResult, Target, exchange_round
from ._filter import ClockFilter
from ._hlc import HlcGenerator
from ._ntp import KOD_DROP, KOD_RATE, ServerAddress, is_public_address, resolve
from ._reading import (
    ClockReading,
    ClockStatus,
    Hlc,
    _LazyReading,
    _new,
    _set_raw,
    _set_status,
    datetime_from_ns,
    datetime_to_ns,
)
from ._select import select
from ._state import current_boot_id, load_state, save_state
from ._system import system_time_ns

__all__ = [
    "PUBLIC_MIN_POLL",
    "AtomicClock",
    "ClockState",
    "Ordering",
    "ServerStatus",
    "SyncReport",
    "default_monotonic_ns",
    "order",
]

_log = logging.getLogger("dualid.clock")

_SYNCED = ClockStatus.SYNCED
_HOLDOVER = ClockStatus.HOLDOVER
_UNSYNCED = ClockStatus.UNSYNCED

#: Public NTP servers are never polled more often than this (seconds), after the burst.
PUBLIC_MIN_POLL = 64.0
_NS = 10**9


_boottime_ns: Callable[[], int] = functools.partial(time.clock_gettime_ns, time.CLOCK_BOOTTIME)


def _pick_monotonic() -> Callable[[], int]:
    if hasattr(time, "CLOCK_BOOTTIME"):
        try:
            _boottime_ns()
        except OSError:  # pragma: no cover - very old kernels
            pass
        else:
            return _boottime_ns
    return time.monotonic_ns  # pragma: no cover - non-Linux


#: The monotonic clock used by default: CLOCK_BOOTTIME where available (counts during
#: suspend), else ``time.monotonic_ns``.
default_monotonic_ns: Callable[[], int] = _pick_monotonic()


def _seconds(value: float | timedelta, name: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidInput(f"{name} must be a number of seconds or a timedelta", field=name)
    if not math.isfinite(seconds) or seconds < minimum:
        raise InvalidInput(f"{name} must be a number of seconds >= {minimum}", field=name)
    return seconds


class Ordering(enum.StrEnum):
    """How two readings relate in real time (see :func:`order`)."""

    BEFORE = "before"
    AFTER = "after"
    AMBIGUOUS = "ambiguous"


def order(a: ClockReading, b: ClockReading) -> Ordering:
    """Whether ``a`` definitely happened before or after ``b`` in real time, judging by
    their intervals: ``BEFORE`` if ``a.latest < b.earliest``, ``AFTER`` if
    ``a.earliest > b.latest``, otherwise ``AMBIGUOUS`` (the intervals overlap; the true
    order cannot be known from the clocks). Within one process ``hlc`` gives a total
    order consistent with causality; use it to break ties."""
    if a.latest < b.earliest:
        return Ordering.BEFORE
    if a.earliest > b.latest:
        return Ordering.AFTER
    return Ordering.AMBIGUOUS


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """Observable state of one configured server.

    ``reach`` is the 8-bit reachability register (bit 0: the latest poll got a valid
    reply). Offsets, delays, jitter and root distance are seconds, from the clock
    filter's current choice. ``selection`` is ``truechimer``, ``falseticker``,
    ``candidate`` (usable, not yet selected), ``unreachable`` or ``dropped`` (a
    DENY/RSTR kiss-o'-death). ``kod`` is the last kiss code received.
    """

    server: str
    address: str | None
    reach: int
    offset: float | None
    delay: float | None
    jitter: float | None
    root_distance: float | None
    selection: str
    kod: str | None
    packets_sent: int
    failures: int
    poll_interval: float
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """The outcome of one sync attempt (also what listeners receive).

    ``ok``: a majority of sources agreed and the clock was updated. ``offset``: how far
    the new estimate is from the timeline it replaces (seconds; positive = the clock was
    behind). ``step``: a forward jump applied to the timeline (seconds, 0 if none);
    ``slew``: a backward correction being worked off gradually instead (seconds, >= 0).
    ``bound``: the uncertainty right after the sync (seconds). ``error`` says why a failed
    sync failed. Never raised: network trouble is reported here.
    """

    ok: bool
    status: ClockStatus
    time: datetime
    offset: float | None
    bound: float | None
    step: float
    slew: float
    frequency_ppm: float
    skew_ppm: float
    packets_sent: int
    truechimers: tuple[str, ...]
    falsetickers: tuple[str, ...]
    servers: tuple[ServerStatus, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["time"] = self.time.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class ClockState:
    """A snapshot for monitoring (``dualid clock status``).

    ``frequency_ppm``: the local clock's learned frequency error (positive = it runs
    fast); ``skew_ppm`` its uncertainty; ``residual_ppm`` the latest change of the
    estimate; ``bound`` the current uncertainty (seconds); ``slewing`` the backward
    correction still being worked off (seconds); ``steps`` how many forward steps were
    applied; ``last_sync`` the time of the latest successful sync.
    """

    status: ClockStatus
    time: datetime
    bound: float
    synced_once: bool
    last_sync: datetime | None
    last_attempt_ok: bool
    frequency_ppm: float
    skew_ppm: float
    residual_ppm: float
    frequency_learned: bool
    slewing: float
    steps: int
    packets_sent: int
    servers: tuple[ServerStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        data["time"] = self.time.isoformat()
        data["last_sync"] = self.last_sync.isoformat() if self.last_sync else None
        return data


@dataclass(frozen=True, slots=True)
class _Timeline:
    """The parameters ``now()`` needs, computed once per sync (immutable: swapped whole)."""

    anchor_mono: int
    anchor_true: int
    rate: float  # true ns per monotonic ns
    bound0: float  # ns
    growth: float  # ns of bound per monotonic ns
    wander: float  # the part of growth due to frequency changes (residual + floor)
    slew0: int  # ns the timeline is ahead of the estimate at the anchor
    slew_rate: float  # how fast that lead is worked off (ns per ns)
    synced_until: int  # monotonic ns; SYNCED before, HOLDOVER after
    void_at: int  # monotonic ns; UNSYNCED after

    def value(self, mono: int) -> tuple[int, float, float]:
        """(timeline ns, estimate-centred bound ns, remaining slew ns) at ``mono``."""
        dt = mono - self.anchor_mono
        est = self.anchor_true + int(dt * self.rate)
        bound = self.bound0 + max(dt, 0) * self.growth
        lead = self.slew0 - dt * self.slew_rate if self.slew0 else 0.0
        lead = max(lead, 0.0)
        return est + int(lead), bound, lead

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(eq=False)
class _Server:
    addr: ServerAddress
    filter: ClockFilter = dataclasses.field(default_factory=ClockFilter)
    family: int = 0
    sockaddr: tuple[str, int] | None = None
    public: bool = True
    reach: int = 0
    failures: int = 0
    interval: float = 0.0
    next_poll: int = 0  # monotonic ns
    rate_until: int = 0  # monotonic ns: RATE back-off
    kod: str | None = None
    dropped: bool = False
    packets_sent: int = 0
    last_error: str | None = None
    last_transmit: int | None = None
    selection: str = "candidate"
    offset_ns: float | None = None
    delay_ns: int | None = None
    jitter_ns: float | None = None
    root_distance_ns: int | None = None


Listener = Callable[[SyncReport], None]


class AtomicClock:
    """NTP-synced time with an honest error bound that keeps working offline.

    ::

        clock = AtomicClock(servers=["127.0.0.1:11123", "time.example.org"],
                            poll_interval=300, state_path="clock.json")
        clock.sync()          # SyncReport; never raises for network trouble
        r = clock.now()       # ClockReading; never raises
        clock.start()         # background polling; clock.stop() / clock.close()

    Parameters (seconds may be given as ``float`` or ``timedelta``):

    ``servers``: ``"host"`` or ``"host:port"`` (``"[v6]:port"``); port 123 by default.
    ``poll_interval``: target interval of the background poller; public servers are
    never polled more often than every 64 s and never below ``min_poll``.
    ``max_poll``: ceiling of the exponential back-off for unreachable servers.
    ``timeout``: how long one round waits for replies. ``burst``/``burst_interval``: the
    first sync of the process sends ``burst`` rounds this far apart.
    ``max_drift_ppm``: worst frequency error assumed for an unmeasured clock (quartz is
    within ~100 ppm; the default 500 is chrony's). ``floor_ppm``: the bound's minimum growth
    rate even with a well-learned frequency (chrony's maxclockerror). ``void_after``:
    holdover longer than this reports UNSYNCED. ``overdue_after``: a sync older than this
    reports HOLDOVER (default 3 x ``poll_interval``). ``max_slew_ppm``: rate at which a
    backward correction is worked off; ``max_slew``: corrections larger than this are held
    (the timeline stands still while the HLC's logical counter advances) rather than
    slewed. ``unsynced_uncertainty``: the bound reported before any sync.
    ``max_hlc_offset``: how far ahead a remote HLC may be in :meth:`observe`.
    ``state_path``: persist frequency, anchor and last issued time there (JSON).

    The keyword arguments ``_monotonic_ns``, ``_wall_ns``, ``_boot_id``, ``_resolve`` and
    ``_is_public`` replace the time sources, the boot id, DNS resolution and the
    public-address test (for deterministic tests).
    """

    def __init__(
        self,
        servers: Iterable[str] = (),
        *,
        poll_interval: float | timedelta = 300.0,
        min_poll: float | timedelta = 1.0,
        max_poll: float | timedelta = 3600.0,
        timeout: float | timedelta = 2.0,
        burst: int = 4,
        burst_interval: float | timedelta = 0.5,
        max_drift_ppm: float = 500.0,
        floor_ppm: float = 1.0,
        void_after: float | timedelta = 86_400.0,
        overdue_after: float | timedelta | None = None,
        max_slew_ppm: float = 500.0,
        max_slew: float | timedelta = 1.0,
        unsynced_uncertainty: float | timedelta = 10.0,
        max_hlc_offset: float | timedelta = 60.0,
        state_path: str | None = None,
        _monotonic_ns: Callable[[], int] | None = None,
        _wall_ns: Callable[[], int] | None = None,
        _boot_id: str | Callable[[], str | None] | None = current_boot_id,
        _resolve: Callable[[str, int], tuple[int, tuple[str, int]]] = resolve,
        _is_public: Callable[[str], bool] = is_public_address,
    ) -> None:
        if isinstance(servers, str):
            servers = [servers]
        try:
            addrs = [ServerAddress.parse(s) for s in servers]
        except ValueError as exc:
            raise InvalidInput(str(exc), field="servers") from exc
        except (TypeError, AttributeError):  # not a collection of strings
            raise InvalidInput("servers must be strings", field="servers") from None
        if state_path is not None and (
            isinstance(state_path, int) or not isinstance(state_path, str | os.PathLike)
        ):
            # open() takes an int as a file descriptor: never let a stray number through.
            raise InvalidInput("state_path must be a path", field="state_path")
        if isinstance(state_path, str) and unstorable(state_path):
            raise InvalidInput(
                "state_path cannot hold a NUL or a lone surrogate", field="state_path"
            )
        self._poll = _seconds(poll_interval, "poll_interval", minimum=0.001)
        self._min_poll = _seconds(min_poll, "min_poll")
        self._max_poll = max(_seconds(max_poll, "max_poll"), self._poll)
        self._timeout = _seconds(timeout, "timeout", minimum=0.001)
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise InvalidInput("burst must be an integer >= 1", field="burst")
        self._burst = int(burst)
        self._burst_interval = _seconds(burst_interval, "burst_interval")
        if not isinstance(max_drift_ppm, int | float) or not 0 < max_drift_ppm < 1e5:
            raise InvalidInput("max_drift_ppm must be in (0, 100000)", field="max_drift_ppm")
        self._max_drift = max_drift_ppm * 1e-6
        self._floor = _seconds(floor_ppm, "floor_ppm") * 1e-6
        self._void_ns = int(_seconds(void_after, "void_after") * _NS)
        overdue = 3 * self._poll if overdue_after is None else overdue_after
        self._overdue_ns = int(_seconds(overdue, "overdue_after") * _NS)
        self._max_slew_rate = _seconds(max_slew_ppm, "max_slew_ppm", minimum=1e-3) * 1e-6
        self._max_slew_ns = int(_seconds(max_slew, "max_slew") * _NS)
        self._unsynced_ns = _seconds(unsynced_uncertainty, "unsynced_uncertainty") * _NS
        self._state_path = state_path
        self._mono: Callable[[], int] = _monotonic_ns or default_monotonic_ns
        self._wall: Callable[[], int] = _wall_ns or system_time_ns
        self._boot_id = _boot_id() if callable(_boot_id) else _boot_id
        self._resolve = _resolve
        self._is_public = _is_public

        self._servers = [_Server(a) for a in addrs]
        self._epoch = self._wall() - self._mono()  # local timescale = monotonic + epoch
        self._sync_lock = threading.Lock()  # one sync at a time
        self._timeline: _Timeline | None = None
        # The same parameters as a flat tuple, for now() (tuple unpacking is cheaper than
        # attribute access); replaced atomically with the timeline.
        self._fast: tuple[int, int, float, float, float, int, float, int, int] | None = None
        self._history: list[_Timeline] = []
        self._hlc = HlcGenerator(
            max_offset_ns=int(_seconds(max_hlc_offset, "max_hlc_offset") * _NS)
        )
        self._drift = FrequencyEstimator(max_drift=self._max_drift)
        self._last_sync_mono: int | None = None
        self._last_attempt_ok = False
        self._synced_in_process = False
        self._packets_sent = 0
        self._steps = 0
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        if state_path is not None:
            self._restore(state_path)

    # ------------------------------------------------------------------ reading

    def now(self) -> ClockReading:
        """The current reading. Never raises, never goes backwards.

        Before the first successful sync: the system time, ``UNSYNCED``, with
        ``unsynced_uncertainty``. Afterwards: the synced timeline, ``SYNCED`` or
        ``HOLDOVER`` (``UNSYNCED`` after ``void_after``), with the honest bound."""
        try:
            mono = self._mono()
            fast = self._fast
            if fast is None:
                t = self._wall()
                unc = self._unsynced_ns
                status = _UNSYNCED
            else:
                anchor_mono, anchor_true, rate, bound0, growth, slew0, slew_rate, until, void = fast
                dt = mono - anchor_mono
                t = anchor_true + int(dt * rate)
                unc = bound0 + dt * growth if dt > 0 else bound0
                if slew0:
                    lead = slew0 - dt * slew_rate
                    if lead > 0:
                        t += int(lead)
                        unc += lead
                status = _SYNCED if mono < until else _HOLDOVER if mono < void else _UNSYNCED
            # HlcGenerator.issue() inlined (this is the hot path): clamp to the floor so
            # the timeline never goes backwards, then tick the HLC, under one lock. The
            # reading's objects (datetime, timedelta, Hlc) are built when first read.
            gen = self._hlc
            lock = gen._lock
            lock.acquire()  # cheaper than `with` on this path
            try:
                floor = gen._floor
                if t < floor:
                    unc += floor - t  # held: the estimate is behind the timeline
                    t = floor
                gen._floor = t
                if t > gen._lp:
                    gen._lp = hp = t
                    gen._ll = hl = 0
                else:
                    hp = gen._lp
                    gen._ll = hl = gen._ll + 1
            finally:
                lock.release()
            # _lazy_reading() inlined. +1 us: the datetime is truncated to microseconds and
            # the bound rounded up.
            reading = _new(_LazyReading)
            _set_status(reading, status)
            _set_raw(reading, [t, int(unc) // 1000 + 1, hp, hl, None, None, None])
            return reading
        except Exception:  # pragma: no cover - defensive: now() must never raise
            _log.exception("AtomicClock.now() failed; falling back to system time")
            return self._fallback_reading()

    def _set_timeline(self, tl: _Timeline) -> None:
        self._timeline = tl
        self._fast = (
            tl.anchor_mono,
            tl.anchor_true,
            tl.rate,
            tl.bound0,
            tl.growth,
            tl.slew0,
            tl.slew_rate,
            tl.synced_until,
            tl.void_at,
        )

    def _fallback_reading(self) -> ClockReading:  # pragma: no cover - defensive
        t, hlc = self._hlc.issue(system_time_ns())
        return ClockReading(
            datetime_from_ns(t),
            timedelta(microseconds=self._unsynced_ns / 1000),
            ClockStatus.UNSYNCED,
            hlc,
        )

    def _timeline_value(self, mono: int) -> int:
        """The timeline's value at ``mono`` without issuing anything."""
        tl = self._timeline
        t = self._wall() if tl is None else tl.value(mono)[0]
        return max(t, self._hlc.floor_ns)

    def observe(self, remote: Hlc | str) -> Hlc:
        """Merge an HLC received from another node; returns a local HLC ordered after both
        it and everything issued so far. Raises :class:`~dualid.clock.HlcSkewError` (a
        ``ClockError`` and ``ValueError``) when ``remote`` is further ahead of this clock
        than ``max_hlc_offset``, and :class:`~dualid.errors.InvalidInput` (also a
        ``ValueError``) for a malformed string or anything but an :class:`Hlc`."""
        if isinstance(remote, str):
            try:
                value = Hlc.parse(remote)
            except ValueError:
                raise InvalidInput("not an HLC timestamp", field="remote") from None
        elif isinstance(remote, Hlc):
            value = remote
        else:
            raise InvalidInput("remote must be an Hlc or its text", field="remote")
        return self._hlc.observe(value, self._timeline_value(self._mono()))

    @property
    def last_hlc(self) -> Hlc:
        """The most recently issued HLC."""
        return self._hlc.last

    # --------------------------------------------------------------------- sync

    def sync(self) -> SyncReport:
        """Query every usable server now (a short burst on the process's first sync),
        select, and update the clock. Returns a :class:`SyncReport`; never raises for
        network trouble. Servers that sent a DENY/RSTR kiss-o'-death are skipped, and so
        are servers inside a RATE back-off window."""
        with self._sync_lock:
            return self._sync(self._servers, burst=not self._synced_in_process)

    async def async_sync(self) -> SyncReport:
        """:meth:`sync` for asyncio code: runs it in a worker thread."""
        return await asyncio.to_thread(self.sync)

    def _sync(self, servers: Sequence[_Server], *, burst: bool) -> SyncReport:
        mono = self._mono()
        sent_before = self._packets_sent
        usable = {id(s) for s in servers if not s.dropped and s.rate_until <= mono}
        if not self._servers:
            return self._finish(None, mono, sent_before, "no servers configured")
        targets: list[Target] = []
        for idx, srv in enumerate(self._servers):
            if id(srv) not in usable:
                continue
            try:
                srv.family, srv.sockaddr = self._resolve(srv.addr.host, srv.addr.port)
                srv.public = self._is_public(srv.sockaddr[0])
            except (OSError, UnicodeError) as exc:
                srv.last_error = f"dns: {exc}"
                if srv.sockaddr is None:
                    self._poll_failed(srv, mono)
                    continue
            targets.append(Target(idx, srv.family, srv.sockaddr, srv.last_transmit))
        got: set[int] = set()
        rounds = self._burst if burst else 1
        for n in range(rounds):
            if not targets:
                break
            if n:
                time.sleep(self._burst_interval)
            results = exchange_round(
                targets, timeout=self._timeout, mono_ns=self._mono, local_offset_ns=self._epoch
            )
            for target in targets:
                res = results[target.key]
                srv = self._servers[target.key]
                if res.sent:
                    srv.packets_sent += 1
                    self._packets_sent += 1
                if self._absorb(srv, res):
                    got.add(target.key)
                    target.last_transmit = srv.last_transmit
            targets = [t for t in targets if not self._servers[t.key].dropped]
        mono = self._mono()
        for target_idx, srv in enumerate(self._servers):
            if id(srv) not in usable or srv.sockaddr is None:
                continue
            if target_idx in got:
                srv.reach = ((srv.reach << 1) | 1) & 0xFF
                srv.failures = 0
                if srv.kod not in KOD_RATE:
                    srv.interval = self._base_interval(srv)
                srv.next_poll = mono + int(srv.interval * _NS)
            elif not srv.dropped and srv.rate_until <= mono:
                self._poll_failed(srv, mono)
        return self._select_and_update(mono, sent_before, got)

    def _base_interval(self, srv: _Server) -> float:
        base = max(self._poll, self._min_poll)
        return max(base, PUBLIC_MIN_POLL) if srv.public else base

    def _poll_failed(self, srv: _Server, mono: int) -> None:
        srv.reach = (srv.reach << 1) & 0xFF
        srv.failures += 1
        srv.interval = min(self._base_interval(srv) * 2.0 ** min(srv.failures, 30), self._max_poll)
        srv.interval = max(srv.interval, self._base_interval(srv))
        srv.next_poll = mono + int(srv.interval * _NS)

    def _absorb(self, srv: _Server, res: ExchangeResult) -> bool:
        """Fold one round's result into the server's state; True for a valid sample."""
        if res.error is not None:
            srv.last_error = res.error
        for rej in res.rejects:  # a refused reply says more than the timeout after it
            srv.last_error = str(rej)
            if rej.kiss is not None:
                srv.kod = rej.kiss
                mono = self._mono()
                if rej.kiss in KOD_DROP:
                    srv.dropped = True
                    srv.filter.clear()
                    srv.selection = "dropped"
                    _log.warning("NTP server %s sent %s: no longer used", srv.addr.text, rej.kiss)
                elif rej.kiss in KOD_RATE:
                    srv.interval = min(
                        max(srv.interval * 2, self._base_interval(srv) * 2, PUBLIC_MIN_POLL),
                        max(self._max_poll, PUBLIC_MIN_POLL),
                    )
                    srv.rate_until = mono + int(srv.interval * _NS)
                    srv.next_poll = srv.rate_until
        if res.sample is None:
            return False
        srv.filter.add(res.sample)
        srv.last_transmit = res.sample.transmit_ts
        srv.last_error = None
        return True

    def _select_and_update(self, mono: int, sent_before: int, fresh: set[int]) -> SyncReport:
        est = self._drift.estimate
        max_age = int(max(4 * self._poll, 4 * self._min_poll, 64.0) * _NS)
        candidates: list[tuple[int, float, float]] = []
        for idx, srv in enumerate(self._servers):
            if srv.dropped:
                continue
            src = srv.filter.best(mono, max_age_ns=max_age, freq=est.correction, skew=est.skew)
            if src is None:
                srv.selection = "unreachable"
                continue
            srv.offset_ns = src.offset_ns
            srv.delay_ns = src.delay_ns
            srv.jitter_ns = src.jitter_ns
            srv.root_distance_ns = src.root_distance_ns
            srv.selection = "candidate"
            candidates.append((idx, src.offset_ns, src.lambda_ns))
        if not candidates:
            return self._finish(None, mono, sent_before, "no usable replies")
        sel = select([(o, lam) for _, o, lam in candidates])
        if sel is None:
            for idx, _, _ in candidates:
                self._servers[idx].selection = "candidate"
            return self._finish(None, mono, sent_before, "no majority of servers agree")
        chimers = {candidates[i][0] for i in sel.truechimers}
        for i in sel.falsetickers:
            self._servers[candidates[i][0]].selection = "falseticker"
        for idx in chimers:
            self._servers[idx].selection = "truechimer"
        if not chimers & fresh:
            return self._finish(None, mono, sent_before, "no fresh reply from a truechimer")
        anchor_true = mono + self._epoch + round(sel.offset)
        bound0 = max(sel.bound, 1.0)
        est = self._drift.add(DriftPoint(mono, anchor_true - mono, bound0))
        old = self._timeline_value(mono)
        correction = anchor_true - old
        slew0 = 0
        slew_rate = self._max_slew_rate
        step = 0
        if correction >= 0:
            step = correction
            if self._timeline is not None and correction > 0:
                self._steps += 1
        else:
            slew0 = -correction
            if slew0 > self._max_slew_ns:
                slew_rate = 1.0  # hold: wait it out
        tl = _Timeline(
            anchor_mono=mono,
            anchor_true=anchor_true,
            rate=1.0 + est.correction,
            bound0=bound0,
            growth=est.skew + est.residual + self._floor,
            wander=est.residual + self._floor,
            slew0=slew0,
            slew_rate=slew_rate,
            synced_until=mono + self._overdue_ns,
            void_at=mono + self._void_ns,
        )
        self._set_timeline(tl)
        self._history.append(tl)
        del self._history[:-64]
        self._last_sync_mono = mono
        self._synced_in_process = True
        result = (
            correction / _NS,
            bound0 / _NS,
            step / _NS,
            slew0 / _NS,
            tuple(self._servers[candidates[i][0]].addr.text for i in sel.truechimers),
            tuple(self._servers[candidates[i][0]].addr.text for i in sel.falsetickers),
        )
        return self._finish(result, mono, sent_before, None)

    def _finish(
        self,
        result: tuple[float, float, float, float, tuple[str, ...], tuple[str, ...]] | None,
        mono: int,
        sent_before: int,
        error: str | None,
    ) -> SyncReport:
        ok = result is not None
        self._last_attempt_ok = ok
        if not ok and self._timeline is not None and self._timeline.synced_until > mono:
            self._set_timeline(dataclasses.replace(self._timeline, synced_until=mono))
        est = self._drift.estimate
        reading = self.now()
        offset, bound, step, slew, chimers, falsers = result or (None, None, 0.0, 0.0, (), ())
        report = SyncReport(
            ok=ok,
            status=reading.status,
            time=reading.time,
            offset=offset,
            bound=bound,
            step=step,
            slew=slew,
            frequency_ppm=est.freq * 1e6,
            skew_ppm=est.skew * 1e6,
            packets_sent=self._packets_sent - sent_before,
            truechimers=chimers,
            falsetickers=falsers,
            servers=self.servers(),
            error=error,
        )
        if ok:
            _log.info("clock synced: offset %+.6f s, bound %.6f s", offset, bound)
        else:
            _log.info("clock sync failed: %s", error)
        self._save_quietly()
        for listener in list(self._listeners):
            try:
                listener(report)
            except Exception:
                _log.exception("clock sync listener failed")
        return report

    # --------------------------------------------------------------- background

    def start(self) -> None:
        """Start background polling on a daemon thread (idempotent). The first round is a
        burst if the process has not synced yet; afterwards each server is polled once per
        interval (at least 64 s for public servers), with exponential back-off while it is
        unreachable and after a RATE kiss-o'-death."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dualid-clock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop background polling, wait for the thread, and save the state."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._save_quietly()

    def close(self) -> None:
        """Stop polling (if started) and save the state."""
        self.stop()

    def __enter__(self) -> AtomicClock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _due(self, mono: int) -> list[_Server]:
        """Servers the background poller should query at ``mono``."""
        return [
            s
            for s in self._servers
            if not s.dropped and s.rate_until <= mono and s.next_poll <= mono
        ]

    def poll_once(self) -> SyncReport | None:
        """One step of the background poller: query the servers that are due (none if
        none are), select and update. Returns ``None`` when nothing was due."""
        with self._sync_lock:
            due = self._due(self._mono())
            if not due:
                return None
            return self._sync(due, burst=not self._synced_in_process)

    def _next_wake(self) -> float:
        mono = self._mono()
        pending = [max(s.next_poll, s.rate_until) for s in self._servers if not s.dropped]
        if not pending:
            return 3600.0
        return min(max((min(pending) - mono) / _NS, 0.01), 3600.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # pragma: no cover - the poller must survive anything
                _log.exception("background clock poll failed")
            self._stop.wait(self._next_wake())

    # ------------------------------------------------------------ observability

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(report)`` after every sync attempt (from the syncing thread).
        Exceptions in listeners are logged, not raised. Returns a function that removes
        the listener."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def servers(self) -> tuple[ServerStatus, ...]:
        """Per-server state."""
        out = []
        for srv in self._servers:
            selection = "dropped" if srv.dropped else srv.selection
            if not srv.dropped and srv.reach == 0 and srv.packets_sent:
                selection = "unreachable"
            out.append(
                ServerStatus(
                    server=srv.addr.text,
                    address=None if srv.sockaddr is None else _fmt_addr(srv.sockaddr),
                    reach=srv.reach,
                    offset=None if srv.offset_ns is None else srv.offset_ns / _NS,
                    delay=None if srv.delay_ns is None else srv.delay_ns / _NS,
                    jitter=None if srv.jitter_ns is None else srv.jitter_ns / _NS,
                    root_distance=(
                        None if srv.root_distance_ns is None else srv.root_distance_ns / _NS
                    ),
                    selection=selection,
                    kod=srv.kod,
                    packets_sent=srv.packets_sent,
                    failures=srv.failures,
                    poll_interval=srv.interval or self._base_interval(srv),
                    last_error=srv.last_error,
                )
            )
        return tuple(out)

    def state(self) -> ClockState:
        """A monitoring snapshot: status, bound, frequency, per-server state."""
        reading = self.now()
        est = self._drift.estimate
        tl = self._timeline
        last_sync = None
        slewing = 0.0
        if tl is not None:
            last_sync = datetime_from_ns(tl.anchor_true + tl.slew0)
            slewing = tl.value(self._mono())[2] / _NS
        return ClockState(
            status=reading.status,
            time=reading.time,
            bound=reading.uncertainty.total_seconds(),
            synced_once=tl is not None,
            last_sync=last_sync,
            last_attempt_ok=self._last_attempt_ok,
            frequency_ppm=est.freq * 1e6,
            skew_ppm=est.skew * 1e6,
            residual_ppm=est.residual * 1e6,
            frequency_learned=est.learned,
            slewing=slewing,
            steps=self._steps,
            packets_sent=self._packets_sent,
            servers=self.servers(),
        )

    @property
    def packets_sent(self) -> int:
        """NTP requests sent by this clock since it was created."""
        return self._packets_sent

    @property
    def drift(self) -> DriftEstimate:
        """The learned frequency error: ``freq`` positive when the local clock runs fast,
        the same sign as :attr:`ClockState.frequency_ppm` (``freq * 1e6``); the correction
        applied is ``drift.correction``."""
        return self._drift.estimate

    # --------------------------------------------------------------- re-timing

    def retime(self, reading: ClockReading) -> ClockReading:
        """Re-estimate a reading taken between two successful syncs (typically in holdover)
        by interpolating between the anchors before and after it. The result keeps the
        reading's ``hlc``, has status ``SYNCED`` and an interval inside the original one.
        Readings that cannot be improved (no later sync yet, taken before the first sync,
        during a hold, or older than the kept history) are returned unchanged."""
        if not isinstance(reading, ClockReading):
            raise InvalidInput("reading must be a ClockReading", field="reading")
        if reading.status is ClockStatus.UNSYNCED:
            return reading
        t = datetime_to_ns(reading.time)
        history = list(self._history)
        for k in range(len(history) - 1):
            a, b = history[k], history[k + 1]
            if not a.anchor_true + a.slew0 <= t < b.anchor_true + b.slew0:
                continue
            mono = _invert(a, t)
            if mono is None or not a.anchor_mono <= mono <= b.anchor_mono:
                return reading
            span = b.anchor_mono - a.anchor_mono
            x = (mono - a.anchor_mono) / span
            est = a.anchor_true + (b.anchor_true - a.anchor_true) * x
            # A constant frequency error cancels out of the interpolation; only its changes
            # (residual + floor rate) bend the true path away from the straight line.
            growth = max(a.wander, b.wander)
            unc = (
                (1 - x) * a.bound0
                + x * b.bound0
                + growth * (mono - a.anchor_mono) * (b.anchor_mono - mono) / span
                + 2000.0  # microsecond truncation of the reading and of the inversion
            )
            lo = max(est - unc, float(datetime_to_ns(reading.earliest)))
            hi = min(est + unc, float(datetime_to_ns(reading.latest)))
            if lo > hi:  # the model was violated; trust the interpolation
                lo, hi = est - unc, est + unc
            mid = (lo + hi) / 2
            half = (hi - lo) / 2
            return ClockReading(
                time=datetime_from_ns(int(mid)),
                uncertainty=timedelta(microseconds=math.ceil(half / 1000) + 1),
                status=ClockStatus.SYNCED,
                hlc=reading.hlc,
            )
        return reading

    # -------------------------------------------------------------- persistence

    def save_state(self) -> None:
        """Write the state file now (also done after every sync and on stop/close).
        Raises ``OSError`` if it cannot be written; a no-op without ``state_path``."""
        if self._state_path is None:
            return
        est = self._drift.estimate
        tl = self._timeline
        last_ns = self._hlc.floor_ns
        last_hlc = self._hlc.last
        save_state(
            self._state_path,
            {
                "boot_id": self._boot_id,
                "saved_mono_ns": self._mono(),
                "saved_wall_ns": self._wall(),
                # The file keeps the rate correction under "freq", as it always has.
                "freq": est.correction,
                "skew": est.skew,
                "residual": est.residual,
                "learned": est.learned,
                "drift_points": [[p.mono_ns, p.diff_ns, p.err_ns] for p in self._drift.points],
                "timeline": None if tl is None else tl.to_json(),
                "last_time_ns": last_ns,
                "last_hlc": str(last_hlc),
            },
        )

    def _save_quietly(self) -> None:
        try:
            self.save_state()
        except OSError as exc:
            _log.warning("could not save clock state to %s: %s", self._state_path, exc)

    def _restore(self, path: str) -> None:
        data = load_state(path)
        if data is None:
            return
        try:
            mono = self._mono()
            wall = self._wall()
            same_boot = self._same_boot(data, mono, wall)
            freq = -float(data["freq"])  # the file holds the correction
            skew = float(data["skew"])
            learned = bool(data["learned"])
            if abs(freq) > 2 * self._max_drift or not math.isfinite(skew):
                freq, skew, learned = 0.0, self._max_drift, False
            estimate = DriftEstimate(
                freq, min(max(skew, 0.0), self._max_drift), float(data["residual"]), 0, learned
            )
            points: list[DriftPoint] = []
            if same_boot:
                points = [DriftPoint(int(m), int(d), float(e)) for m, d, e in data["drift_points"]]
            self._drift.restore(points, estimate)
            self._hlc = HlcGenerator(
                last=Hlc.parse(str(data["last_hlc"])),
                max_offset_ns=self._hlc.max_offset_ns,
                floor_ns=int(data["last_time_ns"]),
            )
            raw = data.get("timeline")
            if same_boot and isinstance(raw, dict):
                tl = _Timeline(
                    anchor_mono=int(raw["anchor_mono"]),
                    anchor_true=int(raw["anchor_true"]),
                    rate=1.0 + estimate.correction,
                    bound0=float(raw["bound0"]),
                    growth=estimate.skew + estimate.residual + self._floor,
                    wander=estimate.residual + self._floor,
                    slew0=int(raw["slew0"]),
                    slew_rate=float(raw["slew_rate"]),
                    synced_until=min(int(raw["synced_until"]), mono),
                    void_at=int(raw["anchor_mono"]) + self._void_ns,
                )
                if tl.anchor_mono <= mono:
                    self._set_timeline(tl)
                    self._history.append(tl)
                    self._last_sync_mono = tl.anchor_mono
        except (KeyError, TypeError, ValueError) as exc:
            _log.warning("ignoring malformed clock state %s: %s", path, exc)

    def _same_boot(self, data: dict[str, Any], mono: int, wall: int) -> bool:
        saved_boot = data.get("boot_id")
        saved_mono = int(data.get("saved_mono_ns", -1))
        if saved_mono < 0 or saved_mono > mono:
            return False
        if saved_boot is not None and self._boot_id is not None:
            return bool(saved_boot == self._boot_id)
        # No boot id on this platform: the monotonic and wall clocks must have advanced
        # together (within 10 s plus a generous drift) since the save.
        elapsed_mono = mono - saved_mono
        elapsed_wall = wall - int(data.get("saved_wall_ns", 0))
        return abs(elapsed_wall - elapsed_mono) < 10 * _NS + elapsed_mono * 1e-3

    def __repr__(self) -> str:
        names = ", ".join(s.addr.text for s in self._servers)
        return f"AtomicClock(servers=[{names}])"


def _invert(tl: _Timeline, t: int) -> int | None:
    """The monotonic time at which timeline ``tl`` showed ``t`` (None during a hold)."""
    base = t - tl.anchor_true
    if tl.slew0:
        t_break = tl.slew0 / tl.slew_rate * tl.rate  # timeline - anchor_true where lead ends
        if base < t_break:
            rate = tl.rate - tl.slew_rate
            if rate <= 1e-3:
                return None
            return tl.anchor_mono + int((base - tl.slew0) / rate)
    return tl.anchor_mono + int(base / tl.rate)


def _fmt_addr(sockaddr: tuple[str, int]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
