"""A real SDK on in-memory SQLite, for tests."""

from __future__ import annotations

from dualid.clock import Clock
from dualid.crypto import LocalKeyProvider
from dualid.sdk import DualId

from ._fake_clock import FakeClock

__all__ = ["memory_sdk"]


def memory_sdk(clock: Clock | None = None) -> DualId:
    """A real :class:`~dualid.DualId` on in-memory SQLite with a random master key and a
    :class:`FakeClock` (unless ``clock`` is given). Nothing is mocked: migrations,
    encryption, consent and the audit chain all run. Close it (or use ``with``) when done.

    >>> with memory_sdk() as sdk:
    ...     sdk.identity.agent_for("u1").startswith("agt_")
    True
    """
    return DualId.open("sqlite://", keys=LocalKeyProvider.ephemeral(), clock=clock or FakeClock())
