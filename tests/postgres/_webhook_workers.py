"""Process entry point for the webhook delivery race (spawned: importable, no pytest)."""

from __future__ import annotations

import time
from typing import Any

from dualid import DualId

from ._workers import _run

_GUARD_SECONDS = 240.0  # a hang guard, not a timing assertion


def deliver_until_empty(queue: Any, barrier: Any, url: str, key: str, worker: int) -> None:
    """Deliver with ``deliver_pending`` until the outbox has nothing pending; report how
    many attempts this worker made."""

    def job() -> int:
        with DualId.open(url, keys=key, webhooks_allow_private=True) as sdk:
            attempted = 0
            give_up = time.monotonic() + _GUARD_SECONDS
            while sdk.webhooks.counts()["pending"]:
                if time.monotonic() > give_up:
                    raise TimeoutError("notices still pending")
                report = sdk.webhooks.deliver_pending(limit=25)
                attempted += report.attempted
                if not report.attempted:
                    time.sleep(0.01)  # every host with work is held by another worker
            return attempted

    _run(queue, barrier, f"deliverer-{worker}", job)
