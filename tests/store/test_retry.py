"""The bounded replay of units of work that the database rolled back (dualid.store._retry)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import dualid.store._retry as retry_module
from dualid.errors import InvalidInput, StoreError, StoreUnavailable, UnknownAgent
from dualid.store._retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    backoff,
    retrying,
    run_retrying,
)
from dualid.tools.clock_audit import scan


def conflict() -> StoreUnavailable:
    return StoreUnavailable("rolled back: SerializationFailure (40001)", replayable=True)


class Unit:
    """A unit of work that raises the given errors in turn, then returns its run count."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.runs = 0

    def __call__(self) -> int:
        self.runs += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.runs


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep the helper asks for (it looks ``time.sleep`` up at each call; the real
    one is never called)."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def test_a_unit_that_succeeds_runs_once(sleeps: list[float]) -> None:
    unit = Unit()
    assert run_retrying(unit) == 1
    assert unit.runs == 1
    assert sleeps == []


def test_replayable_failures_are_replayed_until_one_succeeds(sleeps: list[float]) -> None:
    unit = Unit(conflict(), conflict())
    assert run_retrying(unit, attempts=3) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= DEFAULT_MAX_DELAY for s in sleeps)


def test_the_attempts_are_bounded_and_the_last_error_is_raised(sleeps: list[float]) -> None:
    errors = [conflict() for _ in range(5)]
    unit = Unit(*errors)
    with pytest.raises(StoreUnavailable) as info:
        run_retrying(unit, attempts=3)
    assert unit.runs == 3
    assert info.value is errors[2]
    assert len(sleeps) == 2  # no sleep after the last attempt


def test_the_default_is_three_attempts(sleeps: list[float]) -> None:
    assert DEFAULT_ATTEMPTS == 3
    unit = Unit(*(conflict() for _ in range(5)))
    with pytest.raises(StoreUnavailable):
        run_retrying(unit)
    assert unit.runs == 3


def test_one_attempt_means_no_replay(sleeps: list[float]) -> None:
    unit = Unit(conflict())
    with pytest.raises(StoreUnavailable):
        run_retrying(unit, attempts=1)
    assert unit.runs == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("the database is unavailable: AdminShutdown (57P01)"),
        StoreUnavailable("the database is unavailable: QueryCanceled (57014)", replayable=False),
        StoreError("the database refused the operation: UniqueViolation (23505)"),
        UnknownAgent("no such agent"),
        RuntimeError("a bug"),
        KeyboardInterrupt(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_other_errors_are_raised_at_once(sleeps: list[float], error: BaseException) -> None:
    # A lost connection or a timeout may or may not have committed: never replayed here.
    unit = Unit(error)
    with pytest.raises(type(error)) as info:
        run_retrying(unit, attempts=5)
    assert info.value is error
    assert unit.runs == 1
    assert sleeps == []


def test_a_non_replayable_error_after_a_replay_stops_the_replays(sleeps: list[float]) -> None:
    lost = StoreUnavailable("connection lost")
    unit = Unit(conflict(), lost, conflict())
    with pytest.raises(StoreUnavailable) as info:
        run_retrying(unit, attempts=5)
    assert info.value is lost
    assert unit.runs == 2


def test_only_the_outermost_unit_replays(sleeps: list[float]) -> None:
    inner = Unit(conflict(), conflict())
    outer_runs = 0

    def outer() -> int:
        nonlocal outer_runs
        outer_runs += 1
        return run_retrying(inner, attempts=3)  # nested: runs once, the outer replays

    assert run_retrying(outer, attempts=3) == 3
    assert outer_runs == 3
    assert inner.runs == 3
    assert len(sleeps) == 2
    # Outside any unit again: the inner one replays on its own.
    alone = Unit(conflict())
    assert run_retrying(alone) == 2


def test_the_nesting_mark_is_cleared_after_an_error(sleeps: list[float]) -> None:
    with pytest.raises(RuntimeError):
        run_retrying(Unit(RuntimeError("x")))
    assert run_retrying(Unit(conflict())) == 2


def test_sleep_and_rng_can_be_injected() -> None:
    slept: list[float] = []
    unit = Unit(conflict(), conflict())
    run_retrying(
        unit, attempts=3, base_delay=0.5, max_delay=10.0, sleep=slept.append, rng=random.Random(7)
    )
    expected = [
        backoff(n, base_delay=0.5, max_delay=10.0, rng=r)
        for r in [random.Random(7)]
        for n in (1, 2)
    ]
    assert slept == expected


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_attempts_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(InvalidInput):
        run_retrying(Unit(), attempts=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        retrying(attempts=bad)  # type: ignore[call-overload]


# -- the backoff ---------------------------------------------------------------------------
def test_the_backoff_is_jittered_doubling_and_capped() -> None:
    rng = random.Random(1)
    for replay in range(1, 12):
        ceiling = min(DEFAULT_MAX_DELAY, DEFAULT_BASE_DELAY * 2 ** (replay - 1))
        draws = [backoff(replay, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling / 2  # spread over the range, not a constant
        assert len(set(draws)) > 100
    assert backoff(30, base_delay=1.0, max_delay=0.25, rng=rng) <= 0.25


def test_the_backoff_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_args: object) -> float:
        raise AssertionError("a clock was read")

    monkeypatch.setattr(time, "time", forbidden)
    monkeypatch.setattr(time, "monotonic", forbidden)
    monkeypatch.setattr(time, "perf_counter", forbidden)
    run_retrying(Unit(conflict(), conflict()), sleep=lambda _s: None)
    # And statically: no wall-clock read anywhere in the module (dualid clock-audit).
    assert scan([Path(retry_module.__file__)]).findings == []


# -- the decorator -------------------------------------------------------------------------
def test_the_decorator_replays_the_whole_call(sleeps: list[float]) -> None:
    calls: list[tuple[int, str]] = []
    failures = [conflict()]

    @retrying
    def put(agent: int, *, field: str) -> str:
        """Docs."""
        calls.append((agent, field))
        if failures:
            raise failures.pop()
        return f"{agent}:{field}"

    assert put(1, field="name") == "1:name"
    assert calls == [(1, "name"), (1, "name")]
    assert put.__name__ == "put"
    assert put.__doc__ == "Docs."


def test_the_decorator_takes_attempts(sleeps: list[float]) -> None:
    unit = Unit(*(conflict() for _ in range(9)))
    wrapped: Callable[[], int] = retrying(attempts=5)(unit)
    with pytest.raises(StoreUnavailable):
        wrapped()
    assert unit.runs == 5
