"""Key providers: BaseKeyProvider's batch defaults, the adapter for protocol-only
providers, the ids the SDK accepts, dualid.testing.FakeKms and the contract check
dualid.testing.check_key_provider (which passes the built-in providers and catches the
broken ones)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import pytest

from dualid import BaseKeyProvider, DualId, EventUserData, KeyProvider, LocalKeyProvider
from dualid.crypto import MAX_KEY_ID_LENGTH
from dualid.crypto._keys import batching
from dualid.errors import (
    ConfigurationError,
    DecryptionFailed,
    InvalidInput,
    KeyServiceUnavailable,
    MissingKeyError,
)
from dualid.testing import FakeKms, check_key_provider

from ..support import snapshot


class Delegating:
    """The four required members, handed to ``inner`` (no base class)."""

    def __init__(self, inner: KeyProvider) -> None:
        self.inner = inner

    @property
    def primary_id(self) -> str:
        return self.inner.primary_id

    def key_ids(self) -> Sequence[str]:
        return self.inner.key_ids()

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        return self.inner.wrap(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        return self.inner.unwrap(key_id, blob, aad)


class Counting(Delegating, BaseKeyProvider):
    """A BaseKeyProvider that implements only the four required members."""

    def __init__(self, key_id: str = "counting/1") -> None:
        super().__init__(FakeKms(key_id))
        self.single = 0

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        self.single += 1
        return super().wrap(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        self.single += 1
        return super().unwrap(key_id, blob, aad)


class ProtocolOnly(Delegating):
    """The four members and an unwrap_many of its own, no base class."""

    def __init__(self) -> None:
        self.local = LocalKeyProvider.ephemeral()
        super().__init__(self.local)
        self.many = 0

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        self.many += 1
        return self.local.unwrap_many(items)


# -- the contract, kept ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: LocalKeyProvider.from_string(_key()),
        lambda: LocalKeyProvider.ephemeral(),
        lambda: FakeKms("arn:aws:kms:eu-west-1:111122223333:key/" + "a" * 36),
        lambda: FakeKms("k" * MAX_KEY_ID_LENGTH, previous=["old"]),
        Counting,
        ProtocolOnly,
    ],
    ids=["local", "ephemeral", "fake-kms-arn", "fake-kms-2048", "base-subclass", "protocol"],
)
def test_the_providers_keep_the_contract(make: object) -> None:
    check_key_provider(make())  # type: ignore[operator]


def _key() -> str:
    from dualid import generate_master_key

    return f"named:{generate_master_key()}"


# -- the contract, broken: each rule can fail ------------------------------------------------------
class Broken(FakeKms):
    def __init__(self, flaw: str) -> None:
        super().__init__("broken/1")
        self.flaw = flaw

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        if self.flaw == "plaintext":
            return self.primary_id, plaintext
        if self.flaw == "other-id":
            return "another", super().wrap(plaintext, aad)[1]
        if self.flaw == "foreign":
            raise KeyError("boom")
        if self.flaw == "ignores-aad":
            nonce = secrets.token_bytes(12)
            return self.primary_id, nonce + self._keys[self.primary_id].encrypt(
                nonce, plaintext, None
            )
        if self.flaw == "deterministic":
            return self.primary_id, bytes(12) + self._keys[self.primary_id].encrypt(
                bytes(12), plaintext, aad
            )
        return super().wrap(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        if self.flaw == "ignores-aad":
            return self._keys[key_id].decrypt(blob[:12], blob[12:], None)
        if self.flaw == "unknown-id":
            key_id = self.primary_id
        if self.flaw == "wrong-error":
            try:
                return super().unwrap(key_id, blob, aad)
            except DecryptionFailed:
                raise ConfigurationError("misreported") from None
        return super().unwrap(key_id, blob, aad)

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        out = [self.unwrap(*item) for item in items]
        return list(reversed(out)) if self.flaw == "batch-order" else out

    def key_ids(self) -> Sequence[str]:
        return ("other", self.primary_id) if self.flaw == "ids" else super().key_ids()


@pytest.mark.parametrize(
    ("flaw", "rule"),
    [
        ("plaintext", "must not hold the plaintext"),
        ("other-id", "must use the primary key"),
        ("foreign", "raised KeyError, not a DualIdError"),
        ("deterministic", "two wraps of one key must differ"),
        ("ignores-aad", "unwrap with another aad succeeded"),
        ("unknown-id", "under a key id it does not have succeeded"),
        ("wrong-error", "raised ConfigurationError, expected DecryptionFailed"),
        ("batch-order", "plaintexts in order"),
        ("ids", "primary_id first"),
    ],
)
def test_the_check_finds_each_broken_rule(flaw: str, rule: str) -> None:
    with pytest.raises(AssertionError, match=rule):
        check_key_provider(Broken(flaw))


def test_the_check_refuses_what_is_not_a_provider() -> None:
    with pytest.raises(AssertionError, match="must have primary_id"):
        check_key_provider(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        check_key_provider(FakeKms(), threads=0)


# -- batching --------------------------------------------------------------------------------------
def test_base_defaults_call_the_single_members_in_order() -> None:
    provider = Counting()
    items = [(secrets.token_bytes(32), f"a{i}".encode()) for i in range(4)]
    wrapped = provider.wrap_many(items)
    assert provider.single == 4
    opened = provider.unwrap_many([(k, b, a) for (k, b), (_, a) in zip(wrapped, items)])
    assert opened == [p for p, _ in items]
    assert provider.canonical_id("x") == "x"


def test_the_adapter_uses_a_protocol_providers_own_batch_member() -> None:
    provider = ProtocolOnly()
    assert isinstance(provider, KeyProvider)
    assert not isinstance(provider, BaseKeyProvider)
    adapted = batching(provider)
    assert isinstance(adapted, BaseKeyProvider)
    assert batching(adapted) is adapted
    with DualId.open("sqlite://", keys=provider, dek_cache_size=0) as sdk:
        agents = sdk.identity.agents_for(["a", "b", "c"])
        provider.many = 0
        for agent in agents.values():
            sdk.profiles.put(agent, EventUserData(name="x"))
        assert provider.many == 3  # single reads go through the batch member too


def test_local_wrap_many_uses_the_primary() -> None:
    provider = LocalKeyProvider.from_string(f"new:{_key().split(':', 1)[1]}")
    wrapped = provider.wrap_many([(b"k" * 32, b"a"), (b"j" * 32, b"b")])
    assert [k for k, _ in wrapped] == ["new", "new"]
    assert provider.unwrap_many([(*wrapped[0], b"a"), (*wrapped[1], b"b")]) == [
        b"k" * 32,
        b"j" * 32,
    ]


# -- what the SDK accepts from a provider ----------------------------------------------------------
class LongIds(FakeKms):
    def __init__(self, length: int) -> None:
        super().__init__("k" * min(length, MAX_KEY_ID_LENGTH))
        self.length = length

    @property
    def primary_id(self) -> str:
        return "k" * self.length

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        return "k" * self.length, super().wrap(plaintext, aad)[1]


def test_a_key_id_of_2048_characters_is_stored(tmp_path: object) -> None:
    with DualId.open(f"sqlite:///{tmp_path}/ids.db", keys=LongIds(MAX_KEY_ID_LENGTH)) as sdk:
        agent = sdk.identity.agent_for("u")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        assert sdk.keys.status().in_use == {"k" * MAX_KEY_ID_LENGTH: 2}


def test_a_longer_key_id_is_refused_before_anything_is_written(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/ids.db"
    with pytest.raises(ConfigurationError, match="key id"):
        DualId.open(url, keys=LongIds(MAX_KEY_ID_LENGTH + 1))
    with DualId.open(url, keys=FakeKms()) as sdk:
        assert sdk.keys.status().in_use == {"fake-kms/key-1": 1}  # a fresh root secret


# -- FakeKms ---------------------------------------------------------------------------------------
def test_fake_kms_counts_fails_and_recovers(memory_sdk: DualId) -> None:
    kms = FakeKms()
    kms.fail_next(times=2, operations=["wrap"])
    for _ in range(2):
        with pytest.raises(KeyServiceUnavailable):
            kms.wrap(b"k" * 32, b"a")
    key_id, blob = kms.wrap(b"k" * 32, b"a")
    assert kms.calls == {"wrap": 3}
    assert kms.requests == 3
    kms.fail_next(MissingKeyError("gone"), operations=["unwrap_many"])
    assert kms.unwrap(key_id, blob, b"a") == b"k" * 32  # unwrap is not unwrap_many
    with pytest.raises(MissingKeyError, match="gone"):
        kms.unwrap_many([(key_id, blob, b"a")])
    with kms.outage(), pytest.raises(KeyServiceUnavailable):
        kms.unwrap(key_id, blob, b"a")
    assert kms.unwrap(key_id, blob, b"a") == b"k" * 32
    kms.rotate_to("k2")
    assert kms.key_ids() == ("k2", "fake-kms/key-1")
    kms.remove_key("fake-kms/key-1")
    with pytest.raises(MissingKeyError):
        kms.unwrap(key_id, blob, b"a")
    kms.reset_counts()
    assert kms.requests == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda k: k.fail_next(times=0),
        lambda k: k.fail_next(ValueError("x")),
        lambda k: k.fail_next(operations="wrap"),
        lambda k: k.fail_next(operations=["encrypt"]),
        lambda k: k.rotate_to("fake-kms/key-1"),
        lambda k: k.rotate_to(""),
        lambda k: k.remove_key("fake-kms/key-1"),
        lambda k: FakeKms("a", previous=["a"]),
        lambda k: FakeKms("k" * (MAX_KEY_ID_LENGTH + 1)),
    ],
)
def test_fake_kms_refuses_bad_arguments(call: object) -> None:
    with pytest.raises(InvalidInput):
        call(FakeKms())  # type: ignore[operator]


def test_a_failing_key_service_writes_nothing(tmp_path: object) -> None:
    kms = FakeKms()
    with DualId.open(f"sqlite:///{tmp_path}/f.db", keys=kms, dek_cache_size=0) as sdk:
        agent = sdk.identity.agent_for("ana")
        before = snapshot(sdk)
        kms.fail_next(operations=["wrap_many"])
        with pytest.raises(KeyServiceUnavailable):
            sdk.identity.agents_for(["ben", "cy"])
        kms.fail_next(operations=["unwrap_many"])
        with pytest.raises(KeyServiceUnavailable):
            sdk.profiles.put(agent, EventUserData(name="Ana"))
        kms.fail_next(operations=["unwrap_many"])
        with pytest.raises(KeyServiceUnavailable):
            sdk.identity.user_for(agent, actor="support", reason="t")
        assert snapshot(sdk) == before
        # Bulk onboarding commits per batch: a failure in one batch undoes that batch only.
        sdk.identity.agents_for(["ben", "cy"], batch=2)
        kms.fail_next(operations=["wrap_many"])
        with pytest.raises(KeyServiceUnavailable):
            sdk.identity.agents_for(["ben", "cy", "dee", "eve"], batch=2)
        assert sdk.identity.lookup_many(["ben", "cy", "dee", "eve"]).keys() == {"ben", "cy"}
        assert sdk.audit.verify().ok
