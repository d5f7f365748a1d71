"""Standard Webhooks signatures: ``v1`` (HMAC-SHA256 under a ``whsec_`` secret) and ``v1a``
(Ed25519, the public key published as ``whpk_``), over ``{webhook-id}.{webhook-timestamp}.
{body}``; and :func:`verify`, the check a host's receiver runs.

An endpoint's secrets are derived, never stored: HMAC-SHA256 under a key of the store's
root secret (``DerivedKeys.application_secret("dualid.webhooks/v1")``) over the host id and
the endpoint's random salt. A rotation draws a new salt; the previous one keeps signing
(a second signature in the header) until its grace period ends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dualid.clock import SystemClock
from dualid.errors import InvalidInput, WebhookVerificationError

__all__ = [
    "PUBLIC_KEY_PREFIX",
    "SECRET_PREFIX",
    "TOLERANCE",
    "SigningKeys",
    "sign",
    "signature_header",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of the format, not a secret
PUBLIC_KEY_PREFIX = "whpk_"
TOLERANCE = timedelta(minutes=5)
"""How far a ``webhook-timestamp`` may be from the receiver's clock (replay protection)."""
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
_MAX_HEADER = 8192


@dataclass(frozen=True)
class SigningKeys:
    """One key generation of an endpoint: the HMAC secret and the Ed25519 key pair."""

    secret: bytes
    private_key: Ed25519PrivateKey

    @classmethod
    def derive(cls, root: bytes, host_id: str, salt: bytes) -> SigningKeys:
        base = f"{host_id}\x1f".encode() + salt
        secret = hmac.new(root, b"v1\x1f" + base, hashlib.sha256).digest()
        seed = hmac.new(root, b"v1a\x1f" + base, hashlib.sha256).digest()
        return cls(secret, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def whsec(self) -> str:
        """The HMAC secret as hosts are given it: ``whsec_`` + base64."""
        return SECRET_PREFIX + base64.b64encode(self.secret).decode()

    @property
    def whpk(self) -> str:
        """The Ed25519 public key as published: ``whpk_`` + base64 of its 32 bytes."""
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def _content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def signature_header(
    msg_id: str, timestamp: int, body: bytes, generations: list[SigningKeys]
) -> str:
    """The ``webhook-signature`` value: a ``v1`` and a ``v1a`` signature per key
    generation (the current one first), space separated."""
    content = _content(msg_id, timestamp, body)
    parts = []
    for keys in generations:
        mac = hmac.new(keys.secret, content, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(mac).decode())
        parts.append("v1a," + base64.b64encode(keys.private_key.sign(content)).decode())
    return " ".join(parts)


def sign(secret: str, msg_id: str, timestamp: int | datetime, body: bytes | str) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` signed with a ``whsec_`` secret
    (``v1`` only): for a host's own tests of its receiver.

    >>> headers = sign("whsec_" + "QUJD" * 8, "msg_1", 1700000000, b"{}")
    >>> sorted(headers)
    ['webhook-id', 'webhook-signature', 'webhook-timestamp']

    .. versionadded:: 0.2.0
    """
    key = _hmac_secret(secret)
    seconds = _seconds(timestamp)
    if not isinstance(msg_id, str) or not msg_id or "." in msg_id or len(msg_id) > 256:
        raise InvalidInput("msg_id is a non-empty text without '.'", field="msg_id")
    data = _body(body)
    mac = hmac.new(key, _content(msg_id, seconds, data), hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    *,
    tolerance: timedelta = TOLERANCE,
    now: datetime | None = None,
) -> Any:
    """Check a notice from dualid as a host's receiver gets it and return its JSON
    payload: ``headers`` (any capitalisation), the raw ``body`` exactly as received (not
    parsed and dumped again), and the endpoint's ``whsec_`` secret (checks the ``v1``
    HMAC signatures) or ``whpk_`` public key (checks the ``v1a`` Ed25519 ones). The
    ``webhook-timestamp`` must be within ``tolerance`` of ``now`` (default: the system
    clock). Anything else raises :class:`~dualid.errors.WebhookVerificationError`; use
    the ``webhook-id`` as the idempotency key, since a notice can arrive more than once.

    >>> secret = "whsec_" + "QUJD" * 8
    >>> body = b'{"type":"consent.revoked"}'
    >>> headers = sign(secret, "msg_1", 1700000000, body)
    >>> verify(headers, body, secret, now=datetime.fromtimestamp(1700000030, UTC))
    {'type': 'consent.revoked'}

    .. versionadded:: 0.2.0
    """
    if not isinstance(secret, str):
        raise InvalidInput("secret must be a whsec_ secret or a whpk_ public key", field="secret")
    if secret.startswith(PUBLIC_KEY_PREFIX):
        public_key: Ed25519PublicKey | None = _public_key(secret)
        key = b""
    else:
        public_key = None
        key = _hmac_secret(secret)
    if not isinstance(tolerance, timedelta) or tolerance < timedelta(0):
        raise InvalidInput("tolerance must be a non-negative timedelta", field="tolerance")
    if now is not None and (not isinstance(now, datetime) or now.tzinfo is None):
        raise InvalidInput("now must be an aware datetime", field="now")
    data = _body(body)
    msg_id, stamp, signatures = _read_headers(headers)
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookVerificationError("the webhook-timestamp header is not a Unix time")
    sent = datetime.fromtimestamp(int(stamp), UTC)
    current = now if now is not None else SystemClock().now().time
    if abs(current - sent) > tolerance:
        raise WebhookVerificationError("the webhook-timestamp is outside the tolerance")
    content = _content(msg_id, int(stamp), data)
    expected = hmac.new(key, content, hashlib.sha256).digest() if public_key is None else b""
    for item in signatures.split(" "):
        version, _, encoded = item.partition(",")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if public_key is None and version == "v1":
            if hmac.compare_digest(expected, signature):
                return _json(data)
        elif public_key is not None and version == "v1a":
            try:
                public_key.verify(signature, content)
            except InvalidSignature:
                continue
            return _json(data)
    raise WebhookVerificationError("no signature in the webhook-signature header verifies")


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    if not isinstance(headers, Mapping):
        raise InvalidInput("headers must be a mapping of header names to values", field="headers")
    found: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() in _HEADERS:
            if not isinstance(value, str) or len(value) > _MAX_HEADER:
                raise WebhookVerificationError(f"the {name.lower()} header is malformed")
            found[name.lower()] = value.strip()
    missing = [h for h in _HEADERS if not found.get(h)]
    if missing:
        raise WebhookVerificationError("missing headers: " + ", ".join(missing))
    return found["webhook-id"], found["webhook-timestamp"], found["webhook-signature"]


def _hmac_secret(secret: object) -> bytes:
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidInput("secret must be a whsec_ secret or a whpk_ public key", field="secret")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the whsec_ secret is not base64", field="secret") from None
    if not 24 <= len(key) <= 64:
        raise InvalidInput("a whsec_ secret holds 24 to 64 bytes", field="secret")
    return key


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the whpk_ key is not a base64 Ed25519 public key", field="secret"
        ) from None


def _body(body: object) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode()
        except UnicodeEncodeError:
            raise InvalidInput("body is not valid text", field="body") from None
    raise InvalidInput("body must be the raw request body (bytes or str)", field="body")


def _seconds(value: object) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidInput("timestamp must be an aware datetime", field="timestamp")
        return math.floor(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**11:
        raise InvalidInput("timestamp is Unix seconds or an aware datetime", field="timestamp")
    return value


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("the body is not JSON") from None
