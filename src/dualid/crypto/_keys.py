"""Master keys (KEKs) and the providers that hold them."""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dualid.errors import ConfigurationError, DecryptionFailed, MissingKeyError

__all__ = [
    "ENV_MASTER_KEY",
    "MAX_KEY_ID_LENGTH",
    "BaseKeyProvider",
    "KeyProvider",
    "LocalKeyProvider",
    "batching",
    "generate_master_key",
    "key_fingerprint",
]

ENV_MASTER_KEY = "DUALID_MASTER_KEY"
MAX_KEY_ID_LENGTH = 2048
"""The longest master-key id the store keeps (``VARCHAR(2048)`` since migration
``0008_key_ids``): room for any KMS key ARN, alias ARN or key URI."""
_NONCE = 12


def generate_master_key() -> str:
    """A new master key in the ``DUALID_MASTER_KEY`` format: urlsafe base64 of 32 random
    bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@runtime_checkable
class KeyProvider(Protocol):
    """Holds versioned master keys and wraps/unwraps data keys with them.

    A KMS plugs in by implementing these four members; the raw master key never has to
    leave it. ``wrap`` always uses the primary key and returns its id; ``unwrap`` uses the
    key named by ``key_id`` and raises :class:`~dualid.errors.DecryptionFailed` when the
    blob or its associated data was tampered with. Key ids are text of 1 to
    :data:`MAX_KEY_ID_LENGTH` (2,048) characters.

    Optional members: ``wrap_many(items)`` and ``unwrap_many(items)``, the batch forms
    dualid calls for every operation on many people (a host's attendee list, bulk
    onboarding, rotation), so a KMS can answer many keys in one call; and
    ``canonical_id(key_id)``. Subclass :class:`BaseKeyProvider` to get all three with
    default implementations; a provider written against this protocol alone keeps working
    (dualid calls ``wrap``/``unwrap`` once per key for it).

    The full contract, with a minimal provider to start from: ``docs/keys.md``; the
    contract as a test: :func:`dualid.testing.check_key_provider`.
    """

    @property
    def primary_id(self) -> str: ...

    def key_ids(self) -> Sequence[str]: ...

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes: ...


class BaseKeyProvider(abc.ABC):
    """A :class:`KeyProvider` to subclass: implement ``primary_id``, ``key_ids``, ``wrap``
    and ``unwrap``; the batch members and ``canonical_id`` have defaults.

    ``wrap_many(items)`` takes ``(plaintext, aad)`` pairs and returns ``(key_id, blob)``
    pairs in the same order; ``unwrap_many(items)`` takes ``(key_id, blob, aad)`` triples
    and returns the plaintexts in the same order. Both raise what ``wrap``/``unwrap``
    raise, for the first item that fails, and take any number of items (split them into
    the requests your service accepts). The defaults call ``wrap``/``unwrap`` per item:
    override them when the service can do better (one request for many keys, or requests
    in parallel), as :class:`~dualid.integration.aws_kms.AwsKmsKeyProvider` does.

    >>> class Doubling(BaseKeyProvider):
    ...     primary_id = "d1"
    ...     def key_ids(self): return ("d1",)
    ...     def wrap(self, plaintext, aad): return "d1", plaintext * 2
    ...     def unwrap(self, key_id, blob, aad): return blob[: len(blob) // 2]
    >>> Doubling().unwrap_many([("d1", b"abab", b"")])
    [b'ab']

    .. versionadded:: 0.2.0
    """

    @property
    @abc.abstractmethod
    def primary_id(self) -> str:
        """The id ``wrap`` uses now."""

    @abc.abstractmethod
    def key_ids(self) -> Sequence[str]:
        """Every id this provider can unwrap with, primary first."""

    @abc.abstractmethod
    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt ``plaintext`` under the primary key, bound to ``aad``."""

    @abc.abstractmethod
    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        """The plaintext ``wrap`` was given for ``blob`` and ``aad``."""

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        """:meth:`wrap` for many ``(plaintext, aad)`` pairs, in order."""
        return [self.wrap(plaintext, aad) for plaintext, aad in items]

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        """:meth:`unwrap` for many ``(key_id, blob, aad)`` triples, in order."""
        return [self.unwrap(key_id, blob, aad) for key_id, blob, aad in items]

    def canonical_id(self, key_id: str) -> str:
        """The configured id of a key stored as ``key_id`` (by default ``key_id``)."""
        return key_id


class _ProtocolProvider(BaseKeyProvider):
    """A provider written against :class:`KeyProvider` alone, with the batch members: its
    own where it has them (``unwrap_many`` was documented as optional before there was a
    base class), the defaults otherwise."""

    def __init__(self, inner: KeyProvider) -> None:
        self.inner = inner
        # Looked up once, here: the one place that asks a provider what it offers.
        self._wrap_many: Callable[..., list[tuple[str, bytes]]] | None = getattr(
            inner, "wrap_many", None
        )
        self._unwrap_many: Callable[..., list[bytes]] | None = getattr(inner, "unwrap_many", None)
        self._canonical: Callable[[str], str] | None = getattr(inner, "canonical_id", None)

    @property
    def primary_id(self) -> str:
        return self.inner.primary_id

    def key_ids(self) -> Sequence[str]:
        return self.inner.key_ids()

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        return self.inner.wrap(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        return self.inner.unwrap(key_id, blob, aad)

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        if self._wrap_many is not None:
            return list(self._wrap_many(items))
        return super().wrap_many(items)

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        if self._unwrap_many is not None:
            return list(self._unwrap_many(items))
        return super().unwrap_many(items)

    def canonical_id(self, key_id: str) -> str:
        return key_id if self._canonical is None else self._canonical(key_id)

    def __repr__(self) -> str:
        return repr(self.inner)


def batching(provider: KeyProvider) -> BaseKeyProvider:
    """``provider`` with the batch members: itself when it is a :class:`BaseKeyProvider`,
    else an adapter that calls its own ``wrap_many``/``unwrap_many``/``canonical_id``
    where it has them and ``wrap``/``unwrap`` per key where it does not."""
    if isinstance(provider, BaseKeyProvider):
        return provider
    return _ProtocolProvider(provider)


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ConfigurationError("a master key is not valid urlsafe base64") from None
    if len(raw) != 32:
        raise ConfigurationError("a master key must be 32 bytes (urlsafe base64 of 32 bytes)")
    return raw


def key_fingerprint(raw: bytes) -> str:
    """The id of a master key given without one: ``"k"`` and the first 10 hex digits of
    ``SHA-256(b"dualid key id|" + key)``, where ``key`` is the 32 decoded bytes. A
    fingerprint, not the key: it names the key in ``dualid keys status`` and in the store.

    >>> key_fingerprint(bytes(32))
    'k3053a2648b'
    """
    return "k" + hashlib.sha256(b"dualid key id|" + raw).hexdigest()[:10]


def _check_key_file(name: str, info: os.stat_result) -> None:
    """Refuse a key file that another account owns or can read."""
    getuid = getattr(os, "geteuid", None)  # POSIX only; Windows has ACLs instead
    if getuid is not None and info.st_uid != getuid():
        raise ConfigurationError(
            f"the key file {name} belongs to another user (uid {info.st_uid}, this process "
            f"runs as uid {getuid()}); chown it to this user or run as its owner"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"the key file {name} is readable by others (mode {mode:o}); chmod 600 it"
        )


class LocalKeyProvider(BaseKeyProvider):
    """Master keys held in process memory: from ``DUALID_MASTER_KEY``, a key file, or
    given directly. The first key is primary (new wraps); every key can unwrap (the
    MultiFernet model), so rotation is: put the new key first, run ``sdk.keys.rotate()``,
    then drop the old key.

    A key given without an id gets its :func:`key_fingerprint` as id. Every key also
    answers to its fingerprint, so a store started with an unnamed key keeps working once
    that key is named (``DUALID_MASTER_KEY="new:<K2>,old:<K1>"``): what was wrapped under
    ``k...`` is read with ``old``, and :meth:`canonical_id` tells ``sdk.keys.status()``
    they are one key.

    >>> provider = LocalKeyProvider.from_string(generate_master_key())
    >>> key_id, blob = provider.wrap(b"secret", b"context")
    >>> provider.unwrap(key_id, blob, b"context")
    b'secret'
    """

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise MissingKeyError("no master key configured")
        self._order = [key_id for key_id, _ in keys]
        if len(set(self._order)) != len(self._order):
            raise ConfigurationError("two master keys share one id")
        for key_id, raw in keys:
            if not key_id or ":" in key_id or "," in key_id or len(key_id) > 64:
                raise ConfigurationError(
                    "a master key id must be 1 to 64 characters without ':' or ','"
                )
            if len(raw) != 32:
                raise ConfigurationError("a master key must be 32 bytes")
        self._aeads: Mapping[str, AESGCM] = {key_id: AESGCM(raw) for key_id, raw in keys}
        fingerprints = [key_fingerprint(raw) for _, raw in keys]
        if len(set(fingerprints)) != len(fingerprints):
            raise ConfigurationError("one master key is configured twice")
        # fingerprint -> id, for the keys whose id is a name of the operator's choosing.
        self._aliases: dict[str, str] = {}
        for (key_id, _), fingerprint in zip(keys, fingerprints, strict=True):
            if fingerprint != key_id:
                if fingerprint in self._aeads:
                    raise ConfigurationError("a master key id is another key's fingerprint")
                self._aliases[fingerprint] = key_id

    @classmethod
    def from_string(cls, spec: str) -> LocalKeyProvider:
        """Parse ``"[id:]base64,[id:]base64,..."``; the first key is primary."""
        keys: list[tuple[str, bytes]] = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key_id, sep, text = part.rpartition(":")
            raw = _decode_key(text)
            keys.append((key_id if sep else key_fingerprint(raw), raw))
        if not keys:
            raise MissingKeyError(f"{ENV_MASTER_KEY} holds no key")
        return cls(keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalKeyProvider | None:
        """The keys in ``DUALID_MASTER_KEY``, or None when it is unset or empty."""
        spec = (os.environ if environ is None else environ).get(ENV_MASTER_KEY, "").strip()
        return cls.from_string(spec) if spec else None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, create: bool = True) -> LocalKeyProvider:
        """Keys from a file in the ``DUALID_MASTER_KEY`` format. With ``create`` a missing
        file is created with one new key and mode 0600 (owner read/write only).

        The file must belong to the user running the process and be readable by nobody
        else (no group or other bits): anything else is a
        :class:`~dualid.errors.ConfigurationError` naming the file and the fix, since a
        key file another account can write could swap in a key of its choosing."""
        file = Path(path)
        if not file.exists():
            if not create:
                raise MissingKeyError(f"the key file {file.name} does not exist")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            try:
                fd = os.open(file, flags, 0o600)
            except FileExistsError:
                pass  # another process created it first; read theirs
            except OSError as exc:
                raise ConfigurationError(f"cannot create the key file: {exc.strerror}") from None
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(generate_master_key() + "\n")
        try:
            # One open file for the checks and the read: the file checked is the file read.
            with file.open("r", encoding="ascii") as handle:
                _check_key_file(file.name, os.fstat(handle.fileno()))
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not ASCII text"
            raise ConfigurationError(f"cannot read the key file {file.name}: {reason}") from None
        return cls.from_string(text.strip())

    @classmethod
    def ephemeral(cls) -> LocalKeyProvider:
        """One random key that lives as long as the process (in-memory stores, tests)."""
        return cls([("ephemeral", secrets.token_bytes(32))])

    @property
    def primary_id(self) -> str:
        return self._order[0]

    def key_ids(self) -> Sequence[str]:
        return tuple(self._order)

    def canonical_id(self, key_id: str) -> str:
        """The configured id of the key stored as ``key_id``: a named key's fingerprint
        resolves to its name; any other id is returned as it is."""
        return self._aliases.get(key_id, key_id)

    def _aead(self, key_id: str) -> AESGCM:
        aead = self._aeads.get(self._aliases.get(key_id, key_id))
        if aead is None:
            raise MissingKeyError(
                f"master key {key_id!r} is not configured (configured: "
                f"{', '.join(self._order)}); a key given without an id has its fingerprint "
                "as id, see docs/keys.md"
            )
        return aead

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(_NONCE)
        key_id = self._order[0]
        return key_id, nonce + self._aeads[key_id].encrypt(nonce, plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        aead = self._aead(key_id)
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise DecryptionFailed("a wrapped key did not authenticate") from None

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        """:meth:`wrap` for many ``(plaintext, aad)`` pairs, in order."""
        key_id = self._order[0]
        aead = self._aeads[key_id]
        out = []
        for plaintext, aad in items:
            nonce = secrets.token_bytes(_NONCE)
            out.append((key_id, nonce + aead.encrypt(nonce, plaintext, aad)))
        return out

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        """:meth:`unwrap` for many ``(key_id, blob, aad)`` triples, in order."""
        aeads = self._aeads
        out: list[bytes] = []
        try:
            for key_id, blob, aad in items:
                aead = aeads.get(key_id)
                if aead is None:
                    aead = self._aead(key_id)
                out.append(aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad))
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise DecryptionFailed("a wrapped key did not authenticate") from None
        return out

    def __repr__(self) -> str:
        return f"LocalKeyProvider(key_ids={self._order!r})"
