"""Process entry point for the lock-protocol races (spawned: importable, no pytest).

A worker opens one DualId and keeps it open across rounds; before each round it waits on
the shared barrier, so the calls of one round start together in every process. Each call
is recorded, never raised: ``("ok", value)`` or ``(exception class name, detail)``, the
detail being the error's code and message (shown when a test fails), so a worker that
loses a race stays in step with the others and the test sees every outcome.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any

from dualid import DataField, DualId, DualIdError

# One call: a dotted method of the SDK ("consent.revoke"), positional and keyword arguments.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]
Outcome = tuple[str, Any]

_PERSONAL = {f.value for f in DataField}


def _plain(value: Any) -> Any:
    """A picklable, comparable summary of what a call returned."""
    if value is None or isinstance(value, str | int):
        return value
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


def play(queue: Any, barrier: Any, url: str, key: str, name: str, plan: Sequence[Call]) -> None:
    """Make one call per round, each round released by the barrier; report the outcomes."""
    try:
        with DualId.open(url, keys=key) as sdk:
            outcomes = []
            for call in plan:
                barrier.wait(timeout=120)  # a hang guard, not a timing assertion
                outcomes.append(_call(sdk, call))
        queue.put((name, "ok", outcomes))
    except BaseException:
        queue.put((name, "error", traceback.format_exc()))
