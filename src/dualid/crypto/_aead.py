"""Field encryption: AES-256-GCM under a per-agent data key, bound to its context."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dualid.errors import DecryptionFailed

__all__ = ["FORMAT_V1", "field_aad", "open_field", "seal_field"]

FORMAT_V1 = b"\x01"
_NONCE = 12


def field_aad(agent_id: str, record_id: str, field: str, dek_version: int) -> bytes:
    """The associated data that binds a field ciphertext to its place (P4): a ciphertext
    moved to another agent, record, field or key version fails to authenticate."""
    return f"dualid/field/v1\x1f{agent_id}\x1f{record_id}\x1f{field}\x1f{dek_version}".encode()


def seal_field(aead: AESGCM, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> bytes:
    """``FORMAT_V1 || nonce || AES-GCM(plaintext)``; the nonce is 12 fresh random bytes
    unless the caller drew them (several fields at once)."""
    if nonce is None:
        nonce = secrets.token_bytes(_NONCE)
    return FORMAT_V1 + nonce + aead.encrypt(nonce, plaintext, aad)


def open_field(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != FORMAT_V1 or len(blob) < 1 + _NONCE + 16:
        raise DecryptionFailed("a stored field has an unknown format")
    try:
        return aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
    except InvalidTag:
        raise DecryptionFailed(
            "a stored field did not authenticate (wrong key, or moved to another row or field)"
        ) from None
