"""AWS KMS as dualid's key provider (extra ``dualid[aws]``: boto3).

:class:`AwsKmsKeyProvider` keeps the master key in AWS KMS: the database holds data keys
wrapped by KMS, and the master key never leaves the service.

Two wrapped forms, told apart by their first byte:

* ``0x01``: a data key sent to KMS ``Encrypt`` on its own (one new person), with the
  encryption context ``{"dualid-aad": SHA-256(aad)}``, so KMS itself checks that the
  wrapped key belongs to that agent, data-key version or secret (P4). The context holds a
  hash, not the associated data: CloudTrail logs contexts, and the associated data names
  the agent.
* ``0x02``: a data key wrapped in a batch (bulk onboarding, rotation): one KMS
  ``GenerateDataKey`` gives a batch key, which wraps each data key with AES-256-GCM and the
  item's own associated data; the KMS-encrypted batch key is stored in front of each item.
  A batch of 1,000 people costs one KMS request instead of 1,000, and unwrapping them
  costs one ``Decrypt`` per distinct batch key in the call. The batch key's plaintext
  exists only while the call runs.

Unwrapping many keys (``unwrap_many``: a host's attendee list) sends the ``Decrypt``
requests it needs concurrently, ``max_concurrency`` at a time (boto3 clients are
thread-safe), and stops sending at the first failure.

Errors: KMS unreachable, timing out, throttling or failing on its side is
:class:`~dualid.errors.KeyServiceUnavailable` (retryable, HTTP 503); a key that does not
exist is :class:`~dualid.errors.MissingKeyError`; access denied, a disabled key, a key of
the wrong type, missing credentials or region are
:class:`~dualid.errors.ConfigurationError`; a wrapped key that does not authenticate is
:class:`~dualid.errors.DecryptionFailed`. Messages name the KMS error code only, never
the request.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dualid._checks import check_count
from dualid.crypto import BaseKeyProvider
from dualid.errors import (
    ConfigurationError,
    DecryptionFailed,
    DualIdError,
    KeyServiceUnavailable,
    MissingKeyError,
)

__all__ = ["AwsKmsKeyProvider", "from_uri"]

T = TypeVar("T")

_DIRECT = 0x01
_BATCH = 0x02
_NONCE = 12
_BATCH_CONTEXT = {"dualid-purpose": "dek-batch/v1"}
_BATCH_AAD = b"dualid/aws-kms/batch/v1\x1f"

# KMS error codes that mean "not now": retrying later can succeed.
_UNAVAILABLE = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "KMSInternalException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "DependencyTimeoutException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KeyUnavailableException",
    }
)
_UNDECRYPTABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_INSTALL = "AwsKmsKeyProvider needs the aws extra: pip install 'dualid[aws]'"


def _botocore() -> Any:
    try:
        import botocore.exceptions
    except ImportError:  # pragma: no cover - the extra is installed wherever tests run
        raise ConfigurationError(_INSTALL) from None
    return botocore.exceptions


def _context(aad: bytes) -> dict[str, str]:
    return {"dualid-aad": hashlib.sha256(aad).hexdigest()}


def _is_key_arn(key_id: str) -> bool:
    return key_id.startswith("arn:") and ":key/" in key_id


def _region_of(key_id: str) -> str | None:
    parts = key_id.split(":")
    return parts[3] or None if key_id.startswith("arn:") and len(parts) > 5 else None


def _translate(exc: Exception, action: str) -> DualIdError:
    """A boto3/botocore exception as the DualIdError it means (class and code only)."""
    boto = _botocore()
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _UNAVAILABLE or status >= 500:
            return KeyServiceUnavailable(
                f"AWS KMS cannot {action} now ({code}); retry later", kms_error=code
            )
        if code in _UNDECRYPTABLE:
            return DecryptionFailed("a wrapped key did not authenticate (AWS KMS)")
        if code == "NotFoundException":
            return MissingKeyError(f"AWS KMS has no such key ({code})", kms_error=code)
        return ConfigurationError(
            f"AWS KMS refused to {action} ({code}): check the key, its policy and the credentials",
            kms_error=code,
        )
    if isinstance(exc, boto.ConnectionError | boto.HTTPClientError):
        return KeyServiceUnavailable(
            f"AWS KMS did not answer ({type(exc).__name__}); retry later",
            kms_error=type(exc).__name__,
        )
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return ConfigurationError("no AWS credentials for AWS KMS")
    if isinstance(exc, boto.NoRegionError):
        return ConfigurationError("no AWS region for AWS KMS: pass region= or set AWS_REGION")
    return ConfigurationError(f"AWS KMS call failed ({type(exc).__name__})")


class AwsKmsKeyProvider(BaseKeyProvider):
    """Master keys in AWS KMS.

    ``key_id``: the key that wraps new data keys, as a key id, key ARN, alias name
    (``alias/dualid``) or alias ARN; an id that is not a key ARN is resolved to its key
    ARN once (``DescribeKey``), and the key ARN is the id stored beside each wrapped key,
    so re-pointing an alias later moves nothing. ``previous``: older keys that still
    unwrap (moving to another KMS key: list the old one here, run ``sdk.keys.rotate()``,
    then drop it); KMS's own yearly rotation of a key needs nothing, the key ARN stays.
    ``client``: the application's own boto3 KMS client (its credentials, retries and
    endpoint); without one a client is made with boto3's default credentials, ``region``
    (default: the key ARN's region, else boto3's configuration) and ``endpoint_url``
    (default: boto3's, e.g. ``AWS_ENDPOINT_URL_KMS``), with 2 s connect and 5 s read
    timeouts and 3 attempts in boto3's standard retry mode (unless ``AWS_MAX_ATTEMPTS`` or
    ``AWS_RETRY_MODE`` says otherwise). ``max_concurrency``: ``Decrypt`` requests in flight
    at once in a batch unwrap.

    The key must be a symmetric encryption key (``SYMMETRIC_DEFAULT``,
    ``ENCRYPT_DECRYPT``); the caller needs ``kms:Encrypt``, ``kms:Decrypt``,
    ``kms:GenerateDataKey`` and, for an id that is not a key ARN, ``kms:DescribeKey``.

    No KMS request is made until the first wrap or unwrap (``DualId.open`` makes it).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        key_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        previous: Sequence[str] = (),
        max_concurrency: int = 8,
    ) -> None:
        names = [key_id, *(previous if not isinstance(previous, str) else [previous])]
        for name in names:
            if not isinstance(name, str) or not name.strip() or len(name) > 2048:
                raise ConfigurationError("an AWS KMS key id is a non-empty text (at most 2,048)")
        for value, what in ((region, "region"), (endpoint_url, "endpoint_url")):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{what} must be a non-empty string")
        try:
            self._concurrency = check_count(max_concurrency, "max_concurrency", maximum=256)
        except DualIdError as exc:
            raise ConfigurationError(exc.message) from None
        self._names = [n.strip() for n in names]
        self._client = client
        self._region = region or _region_of(self._names[0])
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._arns: list[str] | None = None

    # -- set-up ----------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 KMS client in use (made on first use when none was given)."""
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                    from botocore.config import Config
                except ImportError:
                    raise ConfigurationError(_INSTALL) from None
                # boto3's own retry settings (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, the
                # config file) win; otherwise standard mode, 3 attempts.
                tuned = any(os.environ.get(n) for n in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"))
                config = Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries=None if tuned else {"mode": "standard", "max_attempts": 3},
                )
                try:
                    self._client = boto3.client(
                        "kms",
                        region_name=self._region,
                        endpoint_url=self._endpoint_url,
                        config=config,
                    )
                except Exception as exc:  # botocore's configuration errors
                    raise _translate(exc, "be reached") from None
            return self._client

    def _call(self, action: str, operation: str, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**params)
        except DualIdError:
            raise
        except Exception as exc:  # every boto3 failure is translated, none escapes
            raise _translate(exc, action) from None
        return response

    def _resolve(self, name: str) -> str:
        if _is_key_arn(name):
            return name
        meta = self._call("describe the key", "describe_key", KeyId=name)["KeyMetadata"]
        if (
            meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"
            or meta.get("KeySpec", meta.get("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"))
            != "SYMMETRIC_DEFAULT"
        ):
            raise ConfigurationError(
                "the AWS KMS key is not a symmetric encryption key (SYMMETRIC_DEFAULT, "
                "ENCRYPT_DECRYPT)"
            )
        return str(meta["Arn"])

    def _key_arns(self) -> list[str]:
        arns = self._arns
        if arns is None:
            arns = [self._resolve(name) for name in self._names]
            if len(set(arns)) != len(arns):
                raise ConfigurationError("one AWS KMS key is configured twice")
            self._arns = arns
        return arns

    # -- the provider ----------------------------------------------------------------------
    @property
    def primary_id(self) -> str:
        """The key ARN of the key that wraps new data keys."""
        return self._key_arns()[0]

    def key_ids(self) -> Sequence[str]:
        return tuple(self._key_arns())

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        key_arn = self.primary_id
        response = self._call(
            "encrypt",
            "encrypt",
            KeyId=key_arn,
            Plaintext=plaintext,
            EncryptionContext=_context(aad),
        )
        return key_arn, bytes([_DIRECT]) + bytes(response["CiphertextBlob"])

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        """One ``GenerateDataKey`` for the whole batch (one ``Encrypt`` for a single item)."""
        if len(items) <= 1:
            return [self.wrap(plaintext, aad) for plaintext, aad in items]
        key_arn = self.primary_id
        response = self._call(
            "generate a data key",
            "generate_data_key",
            KeyId=key_arn,
            KeySpec="AES_256",
            EncryptionContext=_BATCH_CONTEXT,
        )
        sealed_key = bytes(response["CiphertextBlob"])
        batch_key = AESGCM(bytes(response["Plaintext"]))
        head = bytes([_BATCH]) + len(sealed_key).to_bytes(2, "big") + sealed_key
        out = []
        for plaintext, aad in items:
            nonce = secrets.token_bytes(_NONCE)
            body = batch_key.encrypt(nonce, plaintext, _BATCH_AAD + aad)
            out.append((key_arn, head + nonce + body))
        return out

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        return self.unwrap_many([(key_id, blob, aad)])[0]

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        """One ``Decrypt`` per directly wrapped key and per distinct batch key, sent
        ``max_concurrency`` at a time."""
        known = set(self._key_arns())
        # (key_arn, KMS ciphertext, encryption context) -> index in `requests`
        wanted: dict[tuple[str, bytes, str], int] = {}
        requests: list[tuple[str, bytes, dict[str, str]]] = []
        # Per item: its request, and for a batch-wrapped key the nonce and body to open.
        plan: list[tuple[int, bytes, bytes]] = []
        for key_id, blob, aad in items:
            if key_id not in known:
                raise MissingKeyError(
                    f"AWS KMS key {key_id!r} is not configured (configured: "
                    f"{', '.join(sorted(known))}); add it to previous= to read what it wraps"
                )
            blob = bytes(blob)
            if blob[:1] == bytes([_DIRECT]):
                context = _context(aad)
                sealed, rest = blob[1:], b""
            elif blob[:1] == bytes([_BATCH]) and len(blob) > 3:
                size = int.from_bytes(blob[1:3], "big")
                sealed, rest = blob[3 : 3 + size], blob[3 + size :]
                context = _BATCH_CONTEXT
                if len(sealed) != size or len(rest) <= _NONCE:
                    raise DecryptionFailed("a wrapped key did not authenticate (truncated)")
            else:
                raise DecryptionFailed("a wrapped key did not authenticate (not AWS KMS)")
            slot = (key_id, sealed, "batch" if context is _BATCH_CONTEXT else context["dualid-aad"])
            index = wanted.get(slot)
            if index is None:
                index = wanted[slot] = len(requests)
                requests.append((key_id, sealed, context))
            plan.append((index, rest, aad))
        plaintexts = self._run([functools.partial(self._decrypt, *r) for r in requests])
        out: list[bytes] = []
        for index, rest, aad in plan:
            if not rest:
                out.append(plaintexts[index])
                continue
            try:
                out.append(
                    AESGCM(plaintexts[index]).decrypt(
                        rest[:_NONCE], rest[_NONCE:], _BATCH_AAD + aad
                    )
                )
            except (InvalidTag, ValueError):
                raise DecryptionFailed("a wrapped key did not authenticate") from None
        return out

    def _decrypt(self, key_arn: str, sealed: bytes, context: dict[str, str]) -> bytes:
        response = self._call(
            "decrypt",
            "decrypt",
            KeyId=key_arn,
            CiphertextBlob=sealed,
            EncryptionContext=context,
        )
        return bytes(response["Plaintext"])

    def _run(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run ``calls`` (``max_concurrency`` at a time) and return their results in
        order; the first failure (in order) is raised, and calls not started yet never
        start."""
        if len(calls) <= 1 or self._concurrency == 1:
            return [call() for call in calls]
        pool = ThreadPoolExecutor(
            max_workers=min(self._concurrency, len(calls)), thread_name_prefix="dualid-kms"
        )
        try:
            futures: list[Future[T]] = [pool.submit(call) for call in calls]
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"AwsKmsKeyProvider(key_ids={self._names!r})"


def from_uri(rest: str) -> AwsKmsKeyProvider:
    """``aws-kms:<key>[,<older key>...]``: the first key primary."""
    names = [part.strip() for part in rest.split(",") if part.strip()]
    if not names:
        raise ConfigurationError("the key URI aws-kms: names no key (aws-kms:<key id or ARN>)")
    return AwsKmsKeyProvider(names[0], previous=names[1:])
