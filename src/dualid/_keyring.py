"""The derived keys in use, by generation, over the store (migration 0010): which
blind-index keys a userId lookup tries, and which key signs receipts and checkpoints.
Internal; the services call it inside their own transactions.

A process caches what it read. The cache only ever speeds up a lookup that finds its
agent (a blind index under any generation names exactly one userId, so a hit is right
whatever the cache says); a lookup that finds nothing reads the generations again before
it answers, and every write that indexes a new agent or signs reads them in its own
transaction, under the lock a rotation has to wait for (``docs/concurrency.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dualid.crypto import DerivedKeys, KeyProvider
from dualid.crypto._dek import unwrap_secret
from dualid.crypto._generations import (
    BLIND_INDEX,
    RECEIPT_SIGNING,
    IndexKeys,
    SigningKey,
    generation_key,
    public_key_pem,
    signing_key,
)
from dualid.store import _keygens
from dualid.store._keygens import ACTIVE, RETIRED, LiveGeneration
from dualid.store._rows import corrupt
from dualid.store._sql import Conn

__all__ = ["Keyring", "Signer"]

# Reads of the live generations before one shows an active row (the second always does:
# see _live).
_READS = 3


class Signer(NamedTuple):
    """The signing key of one generation."""

    generation: int
    key: Ed25519PrivateKey


class Keyring:
    """The generations of the blind-index key and of the signing keys, and their keys
    (each generation's secret unwrapped once per process)."""

    def __init__(self, derived: DerivedKeys, provider: KeyProvider) -> None:
        self._derived = derived
        self._provider = provider
        self._index: IndexKeys | None = None
        self._secrets: dict[str, bytes] = {}

    # -- the blind index ------------------------------------------------------------------
    @property
    def cached(self) -> IndexKeys | None:
        """The blind-index keys as this process last read them (None before it has)."""
        return self._index

    def index(self, conn: Conn) -> IndexKeys:
        """The blind-index keys as this process last read them (read now the first time)."""
        keys = self._index
        return keys if keys is not None else self.refresh_index(conn)

    def refresh_index(self, conn: Conn) -> IndexKeys:
        """The blind-index keys as the store has them now."""
        return self._index_keys(self._live(conn, BLIND_INDEX, None))

    def lock_index(self, conn: Conn) -> IndexKeys:
        """The blind-index keys, read ``FOR SHARE`` in a write that indexes a new agent: a
        rotation cannot begin before this transaction ends."""
        return self._index_keys(self._live(conn, BLIND_INDEX, "share"))

    def live(self, conn: Conn, purpose: str, *, lock: str | None = None) -> list[LiveGeneration]:
        """The generations of ``purpose`` in use, the active one first (for a rotation,
        ``lock="update"``)."""
        return self._live(conn, purpose, lock)

    def _index_keys(self, live: list[LiveGeneration]) -> IndexKeys:
        if len(live) > 2 or any(g.state == ACTIVE for g in live[1:]):
            raise corrupt("dualid_key_generation", "state")
        keys = IndexKeys([(g.generation, self._index_key(g)) for g in live])
        self._index = keys
        return keys

    def _index_key(self, gen: LiveGeneration) -> bytes:
        if gen.generation == 1:
            return self._derived.blind_index
        return generation_key(self._secret(gen), BLIND_INDEX, gen.generation)

    # -- signing --------------------------------------------------------------------------
    def signer(self, conn: Conn, purpose: str, *, lock: bool = False) -> Signer:
        """The active signing key of ``purpose``; with ``lock``, read ``FOR SHARE`` in the
        transaction that issues what it signs, so a rotation waits for it to commit."""
        live = self._live(conn, purpose, "share" if lock else None)
        if len(live) != 1:
            raise corrupt("dualid_key_generation", "state")
        return Signer(live[0].generation, self.private_key(purpose, live[0]))

    def private_key(self, purpose: str, gen: LiveGeneration) -> Ed25519PrivateKey:
        if gen.generation == 1:
            if purpose == RECEIPT_SIGNING:
                return self._derived.signing
            return self._derived.audit_signing
        return signing_key(self._secret(gen), purpose, gen.generation)

    def signing_keys(
        self, conn: Conn, purpose: str, key_id: Callable[[Ed25519PublicKey], str]
    ) -> list[SigningKey]:
        """Every generation of the signing key ``purpose``, the current one first, each
        named by ``key_id`` of its public key."""
        out = []
        for gen in reversed(_keygens.generations(conn, purpose)):
            if gen.public_key is not None:
                try:
                    public = Ed25519PublicKey.from_public_bytes(gen.public_key)
                except ValueError:
                    raise corrupt("dualid_key_generation", "public_key") from None
            elif gen.generation == 1:
                root = LiveGeneration(1, ACTIVE, None, None, None)
                public = self.private_key(purpose, root).public_key()
            else:
                raise corrupt("dualid_key_generation", "public_key")
            retired = gen.retired_at if gen.state == RETIRED else None
            if (gen.state == RETIRED) != (retired is not None):
                raise corrupt("dualid_key_generation", "retired_at")
            out.append(
                SigningKey(
                    purpose,
                    gen.generation,
                    key_id(public),
                    public_key_pem(public),
                    gen.created_at,
                    retired,
                )
            )
        if not out or not out[0].current or any(k.current for k in out[1:]):
            raise corrupt("dualid_key_generation", "state")
        return out

    # -- both -----------------------------------------------------------------------------
    def _live(self, conn: Conn, purpose: str, lock: str | None) -> list[LiveGeneration]:
        for _ in range(_READS):
            live = _keygens.live_generations(conn, purpose, lock=lock)
            # A locking read that waited for a rotation to commit sees the rows it changed
            # as they are now, but not the row it inserted (not in the statement's
            # snapshot on PostgreSQL): no active row yet. The next statement sees it.
            if live and live[0].state == ACTIVE:
                return live
        raise corrupt("dualid_key_generation", "state")

    def _secret(self, gen: LiveGeneration) -> bytes:
        name = gen.secret
        if name is None:
            raise corrupt("dualid_key_generation", "secret")
        found = self._secrets.get(name)
        if found is None:
            if gen.master_key_id is None or gen.wrapped is None:
                raise corrupt("dualid_secret", "wrapped")
            found = unwrap_secret(self._provider, name, gen.master_key_id, bytes(gen.wrapped))
            self._secrets[name] = found
        return found
