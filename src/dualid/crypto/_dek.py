"""Per-agent data keys (DEKs) and store secrets: their associated data, the unwrapped key
type, and the store secrets' wrap and unwrap. No I/O: the rows come from and go to
:mod:`dualid.store` through :mod:`dualid._vault`.

Data keys are created, unwrapped (in batches) and re-wrapped by
:class:`~dualid.crypto._ring.KeyRing`, which caches the unwrapped ones in process (see
its module for why a cached key cannot outlive an erasure or a revocation).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._keys import KeyProvider

if TYPE_CHECKING:
    from ._ring import KeyRing

__all__ = [
    "DataKey",
    "dek_aad",
    "new_secret",
    "secret_aad",
    "unwrap_dek",
    "unwrap_secret",
]


def dek_aad(agent_id: str, version: int) -> bytes:
    return f"dualid/dek/v1\x1f{agent_id}\x1f{version}".encode()


def secret_aad(name: str) -> bytes:
    return f"dualid/secret/v1\x1f{name}".encode()


class DataKey:
    """An unwrapped DEK: the AES-GCM object and its version."""

    __slots__ = ("aead", "version")

    def __init__(self, aead: AESGCM, version: int) -> None:
        self.aead = aead
        self.version = version

    def __repr__(self) -> str:
        return f"DataKey(version={self.version})"

    def __reduce__(self) -> str | tuple[object, ...]:
        # An unwrapped key lives in memory only: never pickled (to a cache, a queue, a file).
        raise TypeError("a data key cannot be serialised")


def unwrap_dek(ring: KeyRing, agent_id: str, key_id: str, version: int, wrapped: bytes) -> DataKey:
    """The DEK of one ``dualid_agent_key`` row (for callers that read the row themselves,
    joined with what it decrypts)."""
    return ring.deks([(agent_id, key_id, version, wrapped)])[agent_id]


def new_secret(provider: KeyProvider, name: str) -> tuple[bytes, str, bytes]:
    """A fresh store-wide secret ``name``: ``(raw, master_key_id, wrapped)``."""
    raw = secrets.token_bytes(32)
    key_id, wrapped = provider.wrap(raw, secret_aad(name))
    return raw, key_id, wrapped


def unwrap_secret(provider: KeyProvider, name: str, key_id: str, wrapped: bytes) -> bytes:
    return provider.unwrap(key_id, wrapped, secret_aad(name))
