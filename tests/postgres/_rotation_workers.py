"""Process entry points for the key-rotation races (spawned: importable, no pytest).

Each worker opens its DualId before the barrier (so it caches the key generations as they
were) and reports every call it made, never raising: ``(user, call, outcome, value)``.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from dualid import DualId, DualIdError, EventUserData

from ._workers import _run

HOST = "h-rot"
# Held between the rotator's batches so that its rotations overlap the workers' calls
# (widens the race window; nothing measures it).
_PAUSE = 0.002


def rotate_index(queue: Any, barrier: Any, url: str, key: str, rotations: int) -> None:
    """Rotate the blind-index key ``rotations`` times in a row, in small batches."""
    with DualId.open(url, keys=key) as sdk:

        def job() -> list[tuple[int, int, int | None]]:
            out = []
            for _ in range(rotations):
                report = sdk.keys.rotate_index(batch=3, progress=lambda d, t: time.sleep(_PAUSE))
                out.append((report.reindexed, report.generation, report.retired))
            return out

        _run(queue, barrier, "rotator", job)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except DualIdError as exc:
        return type(exc).__name__, exc.code


def use_identities(
    queue: Any, barrier: Any, url: str, key: str, worker: int, existing: list[str], new: list[str]
) -> None:
    """For every user, each in this worker's order: look them up, get-or-create them, and
    register them for their own event (the first registration creates a new user's agent
    in the same transaction); existing users must always be found."""
    with DualId.open(url, keys=key) as sdk:
        sdk.identity.lookup(existing[0])  # the generations as they are before the barrier

        def job() -> list[tuple[str, str, str, Any]]:
            users = existing + new
            users = users[worker::2] + users[1 - worker % 2 :: 2]
            if worker % 2:
                users.reverse()
            calls: list[tuple[str, str, str, Any]] = []
            for user in users:
                calls.append((user, "lookup", *_outcome(partial(sdk.identity.lookup, user))))
                register = partial(
                    sdk.events.register_user,
                    user,
                    HOST,
                    "reservation",
                    f"ev-{user}",
                    share={"name"},
                    data=EventUserData(name="Guest"),
                )
                calls.append((user, "register_user", *_outcome(lambda r=register: r().id)))
                calls.append((user, "agent_for", *_outcome(partial(sdk.identity.agent_for, user))))
                bulk = partial(sdk.identity.agents_for, [user])
                calls.append((user, "agents_for", *_outcome(lambda b=bulk, u=user: b()[u])))
            return calls

        _run(queue, barrier, f"worker-{worker}", job)


def read_attendees(queue: Any, barrier: Any, url: str, key: str, events: list[str]) -> None:
    """A host reading its events' attendees while the others run (P2 is replayed later)."""
    with DualId.open(url, keys=key) as sdk:

        def job() -> int:
            shown = 0
            for _ in range(3):
                for event in events:
                    shown += len(sdk.events.attendees(HOST, event))
            return shown

        _run(queue, barrier, "reader", job)


def rotate_signing(queue: Any, barrier: Any, url: str, key: str, rotations: int) -> None:
    """Rotate both signing keys ``rotations`` times."""
    with DualId.open(url, keys=key) as sdk:

        def job() -> list[int]:
            out = []
            for _ in range(rotations):
                out += [k.generation for k in sdk.keys.rotate_signing()]
                time.sleep(_PAUSE * 5)
            return out

        _run(queue, barrier, "signing-rotator", job)


def sign(queue: Any, barrier: Any, url: str, key: str, worker: int, grants: list[str]) -> None:
    """Issue a receipt per grant and a checkpoint after each, as the signing keys rotate."""
    with DualId.open(url, keys=key) as sdk:
        sdk.consent.receipt_public_key()  # the key as it is before the barrier

        def job() -> tuple[list[dict[str, Any]], list[str]]:
            receipts, checkpoints = [], []
            for grant in grants:
                receipts.append(sdk.consent.receipt(grant))
                checkpoints.append(str(sdk.audit.checkpoint(witness=False)))
            return receipts, checkpoints

        _run(queue, barrier, f"signer-{worker}", job)


def play(queue: Any, barrier: Any, kind: str, *args: Any) -> None:
    """One process of a race: ``kind`` names the entry point above, ``args`` its own."""
    globals()[kind](queue, barrier, *args)
