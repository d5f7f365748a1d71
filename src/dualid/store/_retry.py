"""Bounded replays of a unit of work that the database rolled back.

A serialization failure (SQLSTATE 40001) or a deadlock (40P01) means PostgreSQL rolled the
whole transaction back because it conflicted with another one; running the same unit of
work again, from its first statement, is safe and usually succeeds. :class:`Store` marks
such errors ``StoreUnavailable(replayable=True)``; :func:`run_retrying` (and the decorator
:func:`retrying`) re-run the unit a bounded number of times, with a small jittered backoff
between attempts, and raise the last error when the attempts run out. Every other error,
including a non-replayable ``StoreUnavailable`` (connection lost, timeouts: the commit may
or may not have happened), is raised at once.

A transaction is a context manager and cannot re-run its own body, so the unit of work is
a function that opens, runs and commits its transaction(s) itself. Only the outermost
unit replays: a unit called from inside another one (a service method calling another
retrying one) runs once and lets the error reach the outer unit, whose transaction is the
one the database rolled back.

The backoff reads no clock: it only sleeps (``time.sleep``) for random durations.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar, overload

from dualid.errors import InvalidInput, StoreUnavailable

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_DELAY",
    "backoff",
    "retrying",
    "run_retrying",
]

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("dualid.store")

DEFAULT_ATTEMPTS = 3  # attempts in all: the first run and up to two replays
DEFAULT_BASE_DELAY = 0.005  # seconds; doubled per replay, then capped
DEFAULT_MAX_DELAY = 0.1

# Set while a unit of work runs in this thread / task: nested units do not replay.
_inside: ContextVar[bool] = ContextVar("dualid_retrying_inside", default=False)


def backoff(
    replay: int,
    *,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before replay number ``replay`` (1 for the first): "full jitter",
    uniform in ``[0, min(max_delay, base_delay * 2 ** (replay - 1))]``, so that the
    transactions that conflicted do not collide again in lockstep."""
    ceiling = min(max_delay, base_delay * 2 ** max(0, replay - 1))
    return (rng or random).uniform(0.0, ceiling)


def run_retrying(
    fn: Callable[[], T],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay: float = DEFAULT_BASE_DELAY,
    max_delay: float = DEFAULT_MAX_DELAY,
    sleep: Callable[[float], object] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run ``fn()`` and return its result; replay it while it raises a replayable
    :class:`~dualid.errors.StoreUnavailable`, at most ``attempts`` runs in all.

    ``fn`` must be the whole unit of work: it opens and commits its own transaction(s),
    and has no effect outside them that a replay would repeat. ``sleep`` (by default
    ``time.sleep``, looked up at each call) and ``rng`` are for tests.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidInput("attempts must be a positive integer")
    return _run(fn, (), {}, attempts, base_delay, max_delay, sleep, rng)


def _run(
    fn: Callable[..., T],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    attempts: int,
    base_delay: float,
    max_delay: float,
    sleep: Callable[[float], object] | None,
    rng: random.Random | None,
) -> T:
    """The replay loop of :func:`run_retrying` and :func:`retrying` (the decorator passes
    its arguments through instead of building a closure per call)."""
    if _inside.get():
        return fn(*args, **kwargs)  # a nested unit: the outermost one replays
    token = _inside.set(True)
    try:
        replay = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except StoreUnavailable as exc:
                replay += 1
                if not exc.replayable or replay >= attempts:
                    raise
                log.debug(
                    "replaying a unit of work rolled back by the database (%d of %d)",
                    replay,
                    attempts - 1,
                )
            pause = backoff(replay, base_delay=base_delay, max_delay=max_delay, rng=rng)
            (sleep or time.sleep)(pause)
    finally:
        _inside.reset(token)


@overload
def retrying(fn: Callable[P, T], /) -> Callable[P, T]: ...


@overload
def retrying(*, attempts: int = DEFAULT_ATTEMPTS) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def retrying(
    fn: Callable[P, T] | None = None, /, *, attempts: int = DEFAULT_ATTEMPTS
) -> Callable[P, T] | Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of :func:`run_retrying`: ``@retrying`` or ``@retrying(attempts=5)``
    on a function that is a whole unit of work (see there)."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidInput("attempts must be a positive integer")

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return _run(
                func, args, kwargs, attempts, DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY, None, None
            )

        return wrapper

    if fn is not None:
        return decorate(fn)
    return decorate
