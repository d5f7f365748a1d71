"""Process entry point for the lock-protocol races (spawned: importable, no pytest).

A worker opens one DualId and keeps it open across rounds; before each round it waits on
the shared barrier, so the calls of one round start together in every process. Each call
is recorded, never raised: ``("ok", value)`` or ``(exception class name, detail)``, the
detail being the error's code and message (shown when a test fails), so a worker that
loses a race stays in step with the others and the test sees every outcome.

A round can also be held back until a moment of the SDK's own clock (``not_before``: a
grant expiring just before the round, judged as the SDK judges expiry, by ``latest``), and
one worker's call can start a little after the barrier (``lag``, seconds), to let the
others' calls take the locks first.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dualid import DataField, DualId, DualIdError, EventUserData

# One call: a dotted method of the SDK ("consent.revoke"), positional and keyword arguments.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]
Outcome = tuple[str, Any]

_PERSONAL = {f.value for f in DataField}
# How long a worker waits for a round's ``not_before`` at most (a hang guard).
_MAX_HOLD = 60.0


def _plain(value: Any) -> Any:
    """A picklable, comparable summary of what a call returned."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, EventUserData):  # a profile: the fields it holds, not the values
        return sorted(k for k in value.model_dump(exclude_none=True) if k in _PERSONAL)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "ref") and hasattr(value, "data"):  # a HostAttendee
        shown = value.data.model_dump(exclude_none=True)
        return (value.ref, sorted(k for k in shown if k in _PERSONAL))
    if hasattr(value, "id"):  # Grant, Registration
        return value.id
    return repr(value)


def _call(sdk: DualId, call: Call) -> Outcome:
    path, args, kwargs = call
    target: Any = sdk
    for part in path.split("."):
        target = getattr(target, part)
    try:
        return ("ok", _plain(target(*args, **kwargs)))
    except DualIdError as exc:  # messages hold no personal data
        return (type(exc).__name__, f"{exc.code}: {exc}"[:500])
    except Exception as exc:
        return (type(exc).__name__, f"{exc}"[:500])


def _hold_until(sdk: DualId, moment: datetime) -> None:
    """Wait until ``moment`` is past for the SDK's clock (its ``latest`` bound), bounded."""
    give_up = time.monotonic() + _MAX_HOLD
    while sdk.clock.now().latest <= moment:
        if time.monotonic() > give_up:
            raise TimeoutError(f"the clock did not reach {moment.isoformat()}")
        time.sleep(0.01)


def play(
    queue: Any,
    barrier: Any,
    url: str,
    key: str,
    name: str,
    plan: Sequence[Call],
    not_before: Sequence[datetime | None] | None = None,
    lag: Sequence[float] | None = None,
) -> None:
    """Make one call per round, each round released by the barrier (and, where
    ``not_before`` names a moment, not before it; where ``lag`` is set, that many seconds
    after it); report the outcomes."""
    try:
        with DualId.open(url, keys=key) as sdk:
            outcomes = []
            for r, call in enumerate(plan):
                moment = not_before[r] if not_before is not None else None
                if moment is not None:
                    _hold_until(sdk, moment)
                barrier.wait(timeout=120)  # a hang guard, not a timing assertion
                if lag is not None and lag[r] > 0:
                    time.sleep(lag[r])
                outcomes.append(_call(sdk, call))
        queue.put((name, "ok", outcomes))
    except BaseException:
        queue.put((name, "error", traceback.format_exc()))
