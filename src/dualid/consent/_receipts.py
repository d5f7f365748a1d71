"""Signed consent receipts (Ed25519 over a canonical JSON encoding).

A receipt names the key that signed it (``signing_key_id``, inside what is signed), so a
verifier picks that key among the store's current and retired ones (``docs/keys.md``);
a receipt from before receipts named their key was signed by generation 1.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dualid.audit import Checkpoint, InclusionProof, verify_inclusion
from dualid.audit._checkpoint import PublicKeys
from dualid.clock import ClockReading
from dualid.crypto import SigningKey
from dualid.crypto._generations import receipt_key_id
from dualid.errors import InvalidCheckpoint

from ._engine import decode_fields
from ._types import GrantState, Host

__all__ = [
    "RECEIPT_VERSION",
    "build_receipt",
    "canonical",
    "log_section",
    "receipt_signer",
    "verify_receipt",
]

RECEIPT_VERSION = "dualid-consent-receipt/1"


def canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="microseconds") if value is not None else None


def build_receipt(
    row: Any,
    host: Host,
    *,
    controller: str,
    subject_ref: str,
    state: GrantState,
    issued: ClockReading,
    signing_key: Ed25519PrivateKey,
    log: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": RECEIPT_VERSION,
        "receipt_id": f"rcpt_{row.grant_id[3:]}_{issued.hlc.physical_ns:x}{issued.hlc.logical:x}",
        "issued_at": _iso(issued.time),
        "issued_uncertainty_ms": issued.uncertainty / timedelta(milliseconds=1),
        "issued_clock_status": issued.status.value,
        "controller": {"name": controller},
        "recipient": {"host_id": host.host_id, "name": host.name, "kind": host.kind.value},
        "subject": {"ref": subject_ref},
        "consent": {
            "grant_id": row.grant_id,
            "purpose": row.purpose,
            "fields": sorted(f.value for f in decode_fields(row.fields)),
            "event": {"id": row.event_id, "type": row.event_type},
            "granted_at": _iso(row.created_at),
            "granted_uncertainty_ms": row.created_uncertainty_us / 1000,
            "expires_at": _iso(row.expires_at),
            "revoked_at": _iso(row.revoked_at),
            "state": state.value,
        },
        "signing_key_id": receipt_key_id(signing_key.public_key()),
    }
    if log is not None:
        body["log"] = dict(log)
    signature = signing_key.sign(canonical(body))
    body["signature"] = {
        "alg": "Ed25519",
        "value": base64.urlsafe_b64encode(signature).decode(),
    }
    return body


def _decode_signature(value: object) -> bytes:
    """The signature bytes of ``value``, which must be exactly what `build_receipt` writes.

    `base64.urlsafe_b64decode` is lenient: it drops characters outside the alphabet, ignores
    anything after the padding and reads the standard alphabet's ``+`` and ``/`` as well. A
    receipt has one valid spelling, so that two receipts that verify are byte-identical and a
    store of receipts can't be stuffed with variants of one signature: anything but the
    canonical URL-safe encoding (padded, no trailing data) is refused.
    """
    if not isinstance(value, str):
        raise TypeError("signature value must be a string")
    raw = base64.urlsafe_b64decode(value.encode("ascii"))
    if base64.urlsafe_b64encode(raw).decode("ascii") != value:
        raise ValueError("signature is not canonical URL-safe base64")
    return raw


def log_section(
    seq: int, entry_hash: str, checkpoint: Checkpoint, proof: InclusionProof
) -> dict[str, Any]:
    """A receipt's ``log``: where the grant's entry is in the audit log, and the proof that
    the log the operator signed (``checkpoint``) holds it. The entry is named by its hash,
    not its body: the body names the agentId, which a receipt never carries (P1)."""
    return {
        "origin": checkpoint.origin,
        "seq": seq,
        "entry_hash": entry_hash,
        "checkpoint": str(checkpoint),
        "proof": proof.to_dict(),
    }


def _log_holds(log: object, log_key: PublicKeys) -> bool:
    if not isinstance(log, Mapping):
        return False
    try:
        checkpoint = Checkpoint.parse(log["checkpoint"])
        proof = InclusionProof.from_dict(log["proof"])
    except (InvalidCheckpoint, KeyError, TypeError):
        return False
    if checkpoint.origin != log.get("origin") or proof.seq != log.get("seq"):
        return False
    return verify_inclusion(log.get("entry_hash"), proof, checkpoint, log_key)


def verify_receipt(
    receipt: Mapping[str, Any],
    public_key: Ed25519PublicKey,
    log_key: PublicKeys | None = None,
) -> bool:
    """True when ``public_key`` signed ``receipt`` as it stands (and, when the receipt
    names its key, is that key); with ``log_key`` (the audit log's checkpoint key, PEM,
    verifier key or key, or a list of them), its ``log`` section must also prove the grant's
    entry in a checkpoint that key signed. Needs no database."""
    try:
        named = receipt.get("signing_key_id")
        if named is not None and named != receipt_key_id(public_key):
            return False
        sig = receipt["signature"]
        if not isinstance(sig, Mapping) or sig.get("alg") != "Ed25519":
            return False
        raw = _decode_signature(sig["value"])
        body = {k: v for k, v in receipt.items() if k != "signature"}
        public_key.verify(raw, canonical(body))
    except (InvalidSignature, KeyError, TypeError, ValueError, AttributeError):
        return False
    return log_key is None or _log_holds(receipt.get("log"), log_key)


def receipt_signer(receipt: Mapping[str, Any], keys: Sequence[SigningKey]) -> SigningKey | None:
    """The key of ``keys`` (current first) that signed ``receipt`` while it was in use:
    the one the receipt names (generation 1 for a receipt that names none), if its
    signature verifies and the receipt's ``issued_at`` is not provably after that key's
    retirement (its earliest bound, ``issued_uncertainty_ms`` before it, is not later)."""
    try:
        named = receipt.get("signing_key_id", None)
        if named is None:
            key = next((k for k in keys if k.generation == 1), None)
        else:
            key = next((k for k in keys if k.key_id == named), None)
        if key is None or not verify_receipt(receipt, key.public_key()):
            return None
        issued = datetime.fromisoformat(receipt["issued_at"])
        uncertainty = receipt["issued_uncertainty_ms"]
        if issued.tzinfo is None or isinstance(uncertainty, bool):
            return None
        earliest = issued - timedelta(milliseconds=uncertainty)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        return None
    return key if key.covers(earliest) else None
