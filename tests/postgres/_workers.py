"""Process entry points for the multi-process tests (spawned: importable, no pytest)."""

from __future__ import annotations

import traceback
from typing import Any

from dualid import DualId, EventUserData


def _run(queue: Any, barrier: Any, name: str, job: Any) -> None:
    try:
        barrier.wait(timeout=60)
        queue.put((name, "ok", job()))
    except BaseException:
        queue.put((name, "error", traceback.format_exc()))


def write_people(queue: Any, barrier: Any, url: str, key: str, worker: int, count: int) -> None:
    """Create ``count`` people of our own and store a profile for each."""

    def job() -> dict[str, str]:
        with DualId.open(url, keys=key) as sdk:
            out = {}
            for i in range(count):
                user = f"w{worker}-user-{i}"
                agent = sdk.identity.agent_for(user)
                sdk.profiles.put(agent, EventUserData(name=f"Person {worker}/{i}"))
                out[user] = agent
            return out

    _run(queue, barrier, f"writer-{worker}", job)


def race_agent_for(
    queue: Any, barrier: Any, url: str, key: str, worker: int, users: list[str]
) -> None:
    """agent_for() the same users as every other worker, each in its own order."""

    def job() -> dict[str, str]:
        ordered = users[worker:] + users[:worker]
        with DualId.open(url, keys=key) as sdk:
            return {u: sdk.identity.agent_for(u) for u in ordered}

    _run(queue, barrier, f"racer-{worker}", job)


def race_agents_for(
    queue: Any, barrier: Any, url: str, key: str, worker: int, users: list[str]
) -> None:
    """The bulk form, racing on overlapping batches."""

    def job() -> dict[str, str]:
        ordered = list(reversed(users)) if worker % 2 else users
        with DualId.open(url, keys=key) as sdk:
            return sdk.identity.agents_for(ordered, batch=7)

    _run(queue, barrier, f"bulk-{worker}", job)
