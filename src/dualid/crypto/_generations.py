"""Derived keys that rotate, by generation (migration 0010): the blind-index key and the
two signing keys. No I/O: :mod:`dualid._keyring` reads the generations from the store.

Generation 1 of each is the key :class:`~dualid.crypto.DerivedKeys` derives from the
store's root secret (HKDF info ``dualid/blind-index/v1``, ``dualid/receipt-sign/v1``,
``dualid/audit-checkpoint/v1``), so a store from before 0010 keeps its indexes and its
signatures. A later generation ``n`` is HKDF-SHA256 of a random 32-byte secret of its own
(kept wrapped by the master key in ``dualid_secret`` as ``<purpose>/<n>``) with info
``dualid/<purpose>/v<n>``: not derivable from the root, so rotating replaces the key
material, not only its label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._derive import DerivedKeys, _hkdf, _HmacSha256

__all__ = [
    "AUDIT_SIGNING",
    "BLIND_INDEX",
    "RECEIPT_SIGNING",
    "SIGNING_PURPOSES",
    "IndexKeys",
    "SigningKey",
    "generation_key",
    "public_key_pem",
    "raw_public_key",
    "receipt_key_id",
    "root_key",
    "secret_name",
    "signing_key",
]

BLIND_INDEX = "blind-index"
RECEIPT_SIGNING = "receipt-signing"
AUDIT_SIGNING = "audit-signing"
SIGNING_PURPOSES = (RECEIPT_SIGNING, AUDIT_SIGNING)


def secret_name(purpose: str, generation: int) -> str:
    """The ``dualid_secret`` name of generation ``generation`` (2 or later)."""
    return f"{purpose}/{generation}"


def generation_key(secret: bytes, purpose: str, generation: int) -> bytes:
    """The 32-byte key of a generation from its own secret."""
    return _hkdf(secret, f"dualid/{purpose}/v{generation}")


def root_key(derived: DerivedKeys, purpose: str) -> bytes | Ed25519PrivateKey:
    """Generation 1 of ``purpose``: the key derived from the root secret."""
    if purpose == BLIND_INDEX:
        return derived.blind_index
    return derived.signing if purpose == RECEIPT_SIGNING else derived.audit_signing


def signing_key(secret: bytes, purpose: str, generation: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(generation_key(secret, purpose, generation))


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def receipt_key_id(key: Ed25519PublicKey) -> str:
    """The id a receipt names its signing key by: the first 8 bytes of SHA-256 of the raw
    public key, in hex."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


class IndexKeys:
    """The blind-index keys in use: the active generation first and, while a rotation
    re-indexes the agents, the one it replaces. A userId's agent is found under any of
    them; a new agent is indexed under the first."""

    __slots__ = ("_first", "_macs", "current", "generations", "previous")

    def __init__(self, keys: Sequence[tuple[int, bytes]]) -> None:
        if not keys:
            raise ValueError("at least one blind-index key")
        self.generations = tuple(gen for gen, _ in keys)
        self.current = self.generations[0]
        """The generation new agents are indexed under."""
        self.previous = self.generations[1] if len(self.generations) > 1 else None
        """The generation a running rotation replaces; None when none runs."""
        self._macs = tuple(_HmacSha256(key).digest for _, key in keys)
        self._first = self._macs[0]

    def index(self, user_id: str) -> bytes:
        """The blind index of ``user_id`` under the current generation."""
        return self._first(user_id.encode())

    def indexes(self, user_id: str) -> tuple[bytes, ...]:
        """Its blind index under every generation in use, the current one first."""
        message = user_id.encode()
        return tuple(mac(message) for mac in self._macs)

    def __repr__(self) -> str:
        return f"IndexKeys(generations={self.generations})"


@dataclass(frozen=True)
class SigningKey:
    """One generation of a signing key, as a verifier needs it: what it signs
    (``purpose``: ``"receipt-signing"`` or ``"audit-signing"``), its ``generation``, its
    ``key_id`` (a receipt's ``signing_key_id``; for the audit log, the hex key hash of the
    C2SP signed note), the Ed25519 public key (``public_key_pem``), and when it was made
    and retired (None: it is the current key; generation 1's ``created_at`` is None, it
    came with the store). A retired key verifies what it signed before ``retired_at``.

    .. versionadded:: 0.2.0
    """

    purpose: str
    generation: int
    key_id: str
    public_key_pem: str
    created_at: datetime | None
    retired_at: datetime | None

    @property
    def current(self) -> bool:
        return self.retired_at is None

    def covers(self, earliest: datetime) -> bool:
        """Could this key have signed at ``earliest`` (the earliest a signature's own
        clock reading allows)? Always for the current key; for a retired one, unless that
        moment is provably after its retirement."""
        return self.retired_at is None or earliest <= self.retired_at

    def public_key(self) -> Ed25519PublicKey:
        loaded = serialization.load_pem_public_key(self.public_key_pem.encode())
        assert isinstance(loaded, Ed25519PublicKey)
        return loaded
