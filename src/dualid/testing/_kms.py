"""For key-provider authors and for suites that want a KMS without one: :class:`FakeKms`
(an in-memory provider that counts its calls and fails on demand),
:func:`check_key_provider` (the provider contract as a check to run in your own tests) and
:func:`counting` (the calls a real boto3 KMS client sends, for suites against AWS KMS or an
emulator)."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dualid._checks import check_count, unstorable
from dualid.crypto import MAX_KEY_ID_LENGTH, BaseKeyProvider, KeyProvider
from dualid.crypto._dek import dek_aad, secret_aad
from dualid.crypto._keys import batching
from dualid.errors import (
    DecryptionFailed,
    DualIdError,
    InvalidInput,
    KeyServiceUnavailable,
    MissingKeyError,
)

__all__ = ["FakeKms", "check_key_provider", "counting"]

_NONCE = 12
_OPERATIONS = ("wrap", "unwrap", "wrap_many", "unwrap_many")


class FakeKms(BaseKeyProvider):
    """An in-memory KMS: real AES-256-GCM under random master keys that never leave it,
    one "request" per call (``wrap_many``/``unwrap_many`` answer a whole batch in one, as
    a KMS with a batch API would), counted in :attr:`calls`, and failures on demand.

    >>> kms = FakeKms("arn:aws:kms:eu-west-1:111122223333:key/test")
    >>> key_id, blob = kms.wrap(b"k" * 32, b"aad")
    >>> kms.unwrap(key_id, blob, b"aad") == b"k" * 32, kms.calls["unwrap"], kms.requests
    (True, 1, 2)
    >>> kms.fail_next(times=1)
    >>> kms.wrap(b"k" * 32, b"aad")
    Traceback (most recent call last):
    ...
    dualid.errors.KeyServiceUnavailable: the fake KMS is unavailable (injected)

    ``key_id``: the primary key's id (any text of 1 to 2,048 characters: an ARN works);
    ``previous``: more keys that still unwrap. :meth:`rotate_to` adds a new primary.

    .. versionadded:: 0.2.0
    """

    def __init__(self, key_id: str = "fake-kms/key-1", *, previous: Sequence[str] = ()) -> None:
        ids = [key_id, *previous]
        for name in ids:
            _check_key_id(name)
        if len(set(ids)) != len(ids):
            raise InvalidInput("two FakeKms keys share one id")
        self._order = ids
        self._keys = {name: AESGCM(secrets.token_bytes(32)) for name in ids}
        self.calls: Counter[str] = Counter()
        """Calls per operation: ``wrap``, ``unwrap``, ``wrap_many``, ``unwrap_many``."""
        self._failures: list[tuple[DualIdError, frozenset[str]]] = []
        self._down = 0
        self._lock = threading.Lock()

    # -- knobs -------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        """Every call so far, of any operation (what a KMS would bill)."""
        with self._lock:
            return sum(self.calls.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()

    def fail_next(
        self,
        error: DualIdError | None = None,
        *,
        times: int = 1,
        operations: Sequence[str] = _OPERATIONS,
    ) -> None:
        """Make the next ``times`` calls of ``operations`` raise ``error`` (default
        :class:`~dualid.errors.KeyServiceUnavailable`), before doing anything."""
        check_count(times, "times", maximum=1_000_000)
        if error is not None and not isinstance(error, DualIdError):
            raise InvalidInput("error must be a DualIdError (what a provider raises)")
        if isinstance(operations, str) or not set(operations) <= set(_OPERATIONS):
            raise InvalidInput(f"operations are some of {', '.join(_OPERATIONS)}")
        chosen = error or KeyServiceUnavailable("the fake KMS is unavailable (injected)")
        with self._lock:
            self._failures.extend([(chosen, frozenset(operations))] * times)

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Every call inside the block raises :class:`~dualid.errors.KeyServiceUnavailable`."""
        with self._lock:
            self._down += 1
        try:
            yield
        finally:
            with self._lock:
                self._down -= 1

    def rotate_to(self, key_id: str) -> None:
        """Add a key and make it primary; the old ones still unwrap."""
        _check_key_id(key_id)
        with self._lock:
            if key_id in self._keys:
                raise InvalidInput("that FakeKms key exists already")
            self._keys[key_id] = AESGCM(secrets.token_bytes(32))
            self._order.insert(0, key_id)

    def remove_key(self, key_id: str) -> None:
        """Forget a key that is not primary (what unwraps under it then raises
        :class:`~dualid.errors.MissingKeyError`)."""
        with self._lock:
            if key_id not in self._keys or key_id == self._order[0]:
                raise InvalidInput("not a FakeKms key other than the primary")
            del self._keys[key_id]
            self._order.remove(key_id)

    def _request(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1
            if self._down:
                raise KeyServiceUnavailable("the fake KMS is unavailable (outage)")
            for i, (error, operations) in enumerate(self._failures):
                if operation in operations:
                    del self._failures[i]
                    raise error

    # -- the provider --------------------------------------------------------------------------
    @property
    def primary_id(self) -> str:
        return self._order[0]

    def key_ids(self) -> Sequence[str]:
        return tuple(self._order)

    def _seal(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        key_id = self._order[0]
        nonce = secrets.token_bytes(_NONCE)
        return key_id, nonce + self._keys[key_id].encrypt(nonce, plaintext, aad)

    def _open(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        aead = self._keys.get(key_id)
        if aead is None:
            raise MissingKeyError("the fake KMS has no such key")
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except (InvalidTag, ValueError):
            raise DecryptionFailed("a wrapped key did not authenticate") from None

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        self._request("wrap")
        return self._seal(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        self._request("unwrap")
        return self._open(key_id, blob, aad)

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        self._request("wrap_many")
        return [self._seal(plaintext, aad) for plaintext, aad in items]

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        self._request("unwrap_many")
        return [self._open(key_id, blob, aad) for key_id, blob, aad in items]

    def __repr__(self) -> str:
        return f"FakeKms(key_ids={self._order!r})"


@contextmanager
def counting(client: Any) -> Iterator[Counter[str]]:
    """Count the API calls a boto3 KMS ``client`` sends inside the block, per operation
    (``Encrypt``, ``Decrypt``, ``GenerateDataKey``, ...): what
    :class:`~dualid.integration.aws_kms.AwsKmsKeyProvider` costs against a real KMS or an
    emulator, where :class:`FakeKms` counts its own calls.

    It listens to the client's ``before-call.kms`` event, once per API operation (botocore's
    retries of one operation are not counted again), and stops listening when the block ends.
    Needs no import of boto3 itself: the client brings botocore (``pip install 'dualid[aws]'``)::

        with counting(kms_client) as calls:
            sdk.identity.agents_for(users)
        assert calls == {"Encrypt": 1}

    .. versionadded:: 0.2.0
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is None or not callable(getattr(events, "register", None)):
        raise InvalidInput("counting needs a boto3 KMS client (boto3.client('kms'))")
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    events.register("before-call.kms", count)
    try:
        yield calls
    finally:
        events.unregister("before-call.kms", count)


def _check_key_id(key_id: object) -> None:
    if (
        not isinstance(key_id, str)
        or not 1 <= len(key_id) <= MAX_KEY_ID_LENGTH
        or not key_id.isascii()
        or unstorable(key_id)
    ):
        raise InvalidInput(f"a key id is 1 to {MAX_KEY_ID_LENGTH} ASCII characters")


# -- the contract ---------------------------------------------------------------------------------
class _Broken(AssertionError):
    pass


def _expect(condition: bool, rule: str) -> None:
    if not condition:
        raise _Broken(f"key provider contract: {rule}")


def _call(what: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``; a foreign exception breaks the contract (errors must be DualIdErrors)."""
    try:
        return fn(*args)
    except DualIdError:
        raise
    except Exception as exc:
        raise _Broken(
            f"key provider contract: {what} raised {type(exc).__name__}, not a DualIdError "
            "(convert the service's errors at the boundary: docs/keys.md)"
        ) from exc


def _refuses(what: str, error: type[DualIdError], fn: Any, *args: Any) -> None:
    try:
        _call(what, fn, *args)
    except error:
        return
    except DualIdError as exc:
        raise _Broken(
            f"key provider contract: {what} raised {type(exc).__name__}, expected {error.__name__}"
        ) from exc
    raise _Broken(f"key provider contract: {what} succeeded, expected {error.__name__}")


def _altered(blob: bytes) -> list[bytes]:
    """The blob with its first, middle and last byte flipped, truncated, and empty."""
    out = []
    for position in sorted({0, len(blob) // 2, len(blob) - 1}):
        changed = bytearray(blob)
        changed[position] ^= 0x01
        out.append(bytes(changed))
    return [*out, blob[: len(blob) // 2], b""]


def check_key_provider(provider: KeyProvider, *, threads: int = 4) -> None:
    """Check that ``provider`` keeps the :class:`~dualid.crypto.KeyProvider` contract that
    dualid relies on; raise :class:`AssertionError` naming the first rule it breaks.

    Run it in the provider's own test suite, against the real service or its emulator::

        def test_my_provider_keeps_the_contract():
            check_key_provider(MyKmsProvider(...))

    What it checks: the ids (``primary_id`` first in ``key_ids()``, text of 1 to 2,048
    ASCII characters); ``wrap`` returns ``(primary_id, bytes)``, never the plaintext, and
    differently each time; ``unwrap`` gives the plaintext back and raises
    ``DecryptionFailed`` for another associated data (P4) or an altered, cut or empty
    blob, ``MissingKeyError`` for a key id it does not have; the batch calls (its own, or
    dualid's defaults) agree with the single ones, in order, on no items too, and fail
    for a bad item; it works from ``threads`` threads at once; and every error is a
    :class:`~dualid.errors.DualIdError`. It makes about 60 wrap/unwrap calls.

    .. versionadded:: 0.2.0
    """
    _expect(isinstance(provider, KeyProvider), "it must have primary_id, key_ids, wrap, unwrap")
    check_count(threads, "threads", maximum=64)
    primary = _call("primary_id", lambda: provider.primary_id)
    _expect(
        isinstance(primary, str)
        and 1 <= len(primary) <= MAX_KEY_ID_LENGTH
        and primary.isascii()
        and not unstorable(primary),
        f"primary_id must be 1 to {MAX_KEY_ID_LENGTH} ASCII characters",
    )
    ids = list(_call("key_ids()", provider.key_ids))
    _expect(bool(ids) and ids[0] == primary, "key_ids() must list primary_id first")
    _expect(len(set(ids)) == len(ids), "key_ids() must not repeat an id")
    _expect(all(isinstance(i, str) for i in ids), "key_ids() must be strings")

    plaintext = secrets.token_bytes(32)
    aad = dek_aad("agt_contractcheck", 1)
    wrapped = _call("wrap", provider.wrap, plaintext, aad)
    _expect(isinstance(wrapped, tuple) and len(wrapped) == 2, "wrap must return (key_id, blob)")
    key_id, blob = wrapped
    _expect(key_id == primary, "wrap must use the primary key and return its id")
    _expect(isinstance(blob, bytes), "wrap must return the blob as bytes")
    _expect(plaintext not in blob, "the blob must not hold the plaintext")
    _expect(
        _call("unwrap", provider.unwrap, key_id, blob, aad) == plaintext,
        "unwrap must return what wrap was given",
    )
    _, again = _call("wrap", provider.wrap, plaintext, aad)
    _expect(again != blob, "two wraps of one key must differ (a random nonce or IV)")
    _refuses("unwrap with another aad", DecryptionFailed, provider.unwrap, key_id, blob, b"x")
    _refuses(
        "unwrap with another agent's aad",
        DecryptionFailed,
        provider.unwrap,
        key_id,
        blob,
        dek_aad("agt_contractcheck", 2),
    )
    for altered in _altered(blob):
        _refuses(
            "unwrap of an altered blob", DecryptionFailed, provider.unwrap, key_id, altered, aad
        )
    _refuses(
        "unwrap under a key id it does not have",
        MissingKeyError,
        provider.unwrap,
        "dualid-contract-check/no-such-key",
        blob,
        aad,
    )

    batch = batching(provider)
    _expect(batch.canonical_id(primary) == primary, "canonical_id(primary_id) must be itself")
    _expect(_call("wrap_many([])", batch.wrap_many, []) == [], "wrap_many([]) must be []")
    _expect(_call("unwrap_many([])", batch.unwrap_many, []) == [], "unwrap_many([]) must be []")
    keys = [secrets.token_bytes(32) for _ in range(5)]
    aads = [dek_aad(f"agt_contractcheck{i}", 1) for i in range(4)] + [secret_aad("check")]
    many = _call("wrap_many", batch.wrap_many, list(zip(keys, aads, strict=True)))
    _expect(len(many) == len(keys), "wrap_many must return one (key_id, blob) per item")
    _expect(all(k == primary for k, _ in many), "wrap_many must use the primary key")
    items = [(k, b, a) for (k, b), a in zip(many, aads, strict=True)]
    _expect(
        _call("unwrap_many", batch.unwrap_many, items) == keys,
        "unwrap_many must return the plaintexts in order",
    )
    _expect(
        [_call("unwrap", provider.unwrap, *item) for item in items] == keys,
        "unwrap must open what wrap_many made",
    )
    mixed = [items[0], (key_id, blob, aad), items[1]]
    _expect(
        _call("unwrap_many", batch.unwrap_many, mixed) == [keys[0], plaintext, keys[1]],
        "unwrap_many must open single and batch wraps together",
    )
    bad = [items[0], (items[1][0], items[1][1], aads[2]), items[2]]
    _refuses("unwrap_many with an item of another aad", DecryptionFailed, batch.unwrap_many, bad)

    def round_trip(i: int) -> bool:
        raw = secrets.token_bytes(32)
        context = dek_aad(f"agt_contractthread{i}", 1)
        k, b = provider.wrap(raw, context)
        return bool(provider.unwrap(k, b, context) == raw)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda i: _call("wrap/unwrap", round_trip, i), range(threads * 3)))
    _expect(all(results), "wrap and unwrap must work from several threads at once")
