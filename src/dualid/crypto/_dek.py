"""Per-agent data keys (DEKs) and store secrets: created, wrapped, unwrapped in batches,
re-wrapped. No I/O: the rows come from and go to :mod:`dualid.store` through
:mod:`dualid._vault`.

Unwrapped keys live only for the duration of one call (a dict the caller holds): no
process-wide cache can outlive an erasure made by another process.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._keys import KeyProvider

__all__ = [
    "DataKey",
    "dek_aad",
    "new_dek",
    "new_secret",
    "rewrap",
    "secret_aad",
    "unwrap_dek",
    "unwrap_deks",
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


def new_dek(provider: KeyProvider, agent_id: str) -> tuple[DataKey, str, bytes]:
    """A fresh DEK (version 1) for ``agent_id``: the key, and the master key id and
    ciphertext that store it wrapped."""
    raw = secrets.token_bytes(32)
    key_id, wrapped = provider.wrap(raw, dek_aad(agent_id, 1))
    return DataKey(AESGCM(raw), 1), key_id, wrapped


def unwrap_dek(
    provider: KeyProvider, agent_id: str, key_id: str, version: int, wrapped: bytes
) -> DataKey:
    """The DEK of one ``dualid_agent_key`` row (for callers that read the row themselves,
    joined with what it decrypts)."""
    raw = provider.unwrap(key_id, bytes(wrapped), dek_aad(agent_id, version))
    return DataKey(AESGCM(raw), version)


def rewrap(provider: KeyProvider, key_id: str, wrapped: bytes, aad: bytes) -> tuple[str, bytes]:
    """Unwrap with the master key ``key_id`` and wrap again under the primary one."""
    return provider.wrap(provider.unwrap(key_id, wrapped, aad), aad)


def new_secret(provider: KeyProvider, name: str) -> tuple[bytes, str, bytes]:
    """A fresh store-wide secret ``name``: ``(raw, master_key_id, wrapped)``."""
    raw = secrets.token_bytes(32)
    key_id, wrapped = provider.wrap(raw, secret_aad(name))
    return raw, key_id, wrapped


def unwrap_secret(provider: KeyProvider, name: str, key_id: str, wrapped: bytes) -> bytes:
    return provider.unwrap(key_id, wrapped, secret_aad(name))


def unwrap_deks(
    provider: KeyProvider, rows: Sequence[tuple[str, str, int, bytes]]
) -> dict[str, DataKey]:
    """Unwrap ``(agent_id, master_key_id, dek_version, wrapped)`` key rows in one batch
    (``unwrap_many`` when the provider has it: one KMS call, not one per agent)."""
    items = [(key_id, wrapped, dek_aad(a, v)) for a, key_id, v, wrapped in rows]
    unwrap_many = getattr(provider, "unwrap_many", None)  # optional (see KeyProvider)
    if unwrap_many is not None:
        raws = unwrap_many(items)
    else:
        raws = [provider.unwrap(*item) for item in items]
    return {
        agent_id: DataKey(AESGCM(raw), version)
        for (agent_id, _key_id, version, _wrapped), raw in zip(rows, raws, strict=True)
    }
