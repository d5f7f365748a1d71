"""Key management as the SDK exposes it: master-key rotation and status (``sdk.keys``).

.. versionadded:: 0.2.0
   ``Keys``, ``KeyStatus`` and ``RotationReport`` are public (``from dualid.keys import
   ...`` or ``from dualid import ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dualid import audit
from dualid._checks import check_callback, check_count
from dualid._runtime import Runtime
from dualid._vault import key_usage, rewrap_batch
from dualid.store._retry import retrying

__all__ = ["KeyStatus", "Keys", "RotationReport"]


@dataclass(frozen=True)
class RotationReport:
    """What :meth:`Keys.rotate` did: keys re-wrapped, the primary they are under now, and
    how many are still under another master key (0 when rotation is complete)."""

    rewrapped: int
    primary_id: str
    remaining: int


@dataclass(frozen=True)
class KeyStatus:
    """Which master keys still protect wrapped keys. A key id absent from ``in_use`` can
    be removed from the configuration."""

    primary_id: str
    configured: tuple[str, ...]
    in_use: dict[str, int]

    @property
    def removable(self) -> tuple[str, ...]:
        return tuple(k for k in self.configured if k not in self.in_use and k != self.primary_id)


class Keys:
    """Master-key rotation. Put the new key first in ``DUALID_MASTER_KEY``, call
    :meth:`rotate`, check :meth:`status`, then drop the old key."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def status(self) -> KeyStatus:
        """Configured key ids and how many wrapped keys each protects. Keys stored under
        an id the provider knows by another name (a :class:`~dualid.crypto.LocalKeyProvider`
        key named after the store was started with it unnamed) count for that name."""
        ring = self._rt.provider
        usage: dict[str, int] = {}
        for key_id, count in self._stored_usage().items():
            name = ring.canonical_id(key_id)
            usage[name] = usage.get(name, 0) + count
        return KeyStatus(ring.primary_id, tuple(ring.key_ids()), usage)

    def _stored_usage(self) -> dict[str, int]:
        """Wrapped keys per key id as stored (what :meth:`rotate` re-wraps)."""
        with self._rt.store.read() as conn:
            return key_usage(conn)

    @retrying
    def rotate(
        self, *, batch: int = 500, progress: Callable[[int, int], None] | None = None
    ) -> RotationReport:
        """Re-wrap every DEK and store secret under the primary master key, ``batch`` keys
        per transaction. Field ciphertexts are untouched. Interrupted, it resumes where it
        stopped (each batch commits on its own); run again, it does nothing."""
        check_count(batch, "batch")
        check_callback(progress, "progress")
        primary = self._rt.provider.primary_id
        total = sum(n for k, n in self._stored_usage().items() if k != primary)
        done = 0
        while True:
            with self._rt.write() as tx:
                count = rewrap_batch(tx.conn, self._rt.provider, batch)
                if count:
                    audit.append(
                        tx.conn,
                        tx.now,
                        "keys.rewrapped",
                        details={"count": count, "primary": primary},
                    )
            done += count
            if progress is not None:
                progress(done, total)
            if count == 0:
                break
        remaining = sum(n for k, n in self._stored_usage().items() if k != primary)
        return RotationReport(done, primary, remaining)
