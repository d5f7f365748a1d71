"""Process entry points for the multi-process consent race (spawned: importable)."""

from __future__ import annotations

import traceback
from typing import Any

from dualid import DataField, DualId


def grant_revoke(
    queue: Any,
    barrier: Any,
    url: str,
    key: str,
    agent_id: str,
    worker: int,
    rounds: int,
    keep_last: bool,
) -> None:
    """Grant the email host-wide and revoke it again, ``rounds`` times, racing the other
    workers on the same person and registration, reading the host's view in between."""
    try:
        with DualId.open(url, keys=key) as sdk:
            barrier.wait(timeout=60)
            last = None
            for i in range(rounds):
                grant = sdk.consent.grant(
                    agent_id, "bistro-7", fields={DataField.EMAIL}, purpose=f"w{worker}-{i}"
                )
                last = grant.id
                sdk.events.attendees("bistro-7", "res-1")
                if keep_last and i == rounds - 1:
                    break
                sdk.consent.revoke(grant.id)
                sdk.events.attendees("bistro-7", "res-1")
            queue.put((f"w{worker}", "ok", {"last": last}))
    except BaseException:
        queue.put((f"w{worker}", "error", traceback.format_exc()))
