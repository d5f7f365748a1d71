"""Derived keys by generation (``crypto/_generations.py``): blind indexes under each key in
use, separate keys per purpose and generation, and the retirement rule of signing keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dualid.crypto import DerivedKeys, SigningKey
from dualid.crypto._generations import (
    AUDIT_SIGNING,
    BLIND_INDEX,
    RECEIPT_SIGNING,
    IndexKeys,
    generation_key,
    public_key_pem,
    raw_public_key,
    receipt_key_id,
    signing_key,
)


def test_index_keys_index_under_each_generation_current_first() -> None:
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    keys = IndexKeys([(2, k2), (1, k1)])
    assert (keys.current, keys.previous, keys.generations) == (2, 1, (2, 1))
    expected = [hmac.new(k, b"user-1", hashlib.sha256).digest() for k in (k2, k1)]
    assert keys.indexes("user-1") == tuple(expected)
    assert keys.index("user-1") == expected[0]
    single = IndexKeys([(1, k1)])
    assert (single.previous, single.indexes("user-1")) == (None, (expected[1],))
    with pytest.raises(ValueError):
        IndexKeys([])


def test_generation_1_is_the_root_derived_key() -> None:
    derived = DerivedKeys.from_root(secrets.token_bytes(32))
    assert IndexKeys([(1, derived.blind_index)]).index("u") == derived.user_index("u")


def test_each_purpose_and_generation_has_its_own_key() -> None:
    secret = secrets.token_bytes(32)
    made = {
        generation_key(secret, purpose, gen)
        for purpose in (BLIND_INDEX, RECEIPT_SIGNING, AUDIT_SIGNING)
        for gen in (2, 3)
    }
    assert len(made) == 6
    assert raw_public_key(signing_key(secret, RECEIPT_SIGNING, 2).public_key()) != raw_public_key(
        signing_key(secret, RECEIPT_SIGNING, 3).public_key()
    )


def test_a_retired_key_covers_what_it_signed_before_its_retirement() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    retired_at = datetime(2026, 12, 3, 10, tzinfo=UTC)
    key = SigningKey(
        RECEIPT_SIGNING, 1, receipt_key_id(public), public_key_pem(public), None, retired_at
    )
    assert not key.current
    assert key.covers(retired_at - timedelta(hours=1))
    assert key.covers(retired_at)
    assert not key.covers(retired_at + timedelta(microseconds=1))
    current = SigningKey(RECEIPT_SIGNING, 2, "k", public_key_pem(public), retired_at, None)
    assert current.current
    assert current.covers(retired_at + timedelta(days=400))
    assert raw_public_key(key.public_key()) == raw_public_key(public)
    assert receipt_key_id(public) == hashlib.sha256(raw_public_key(public)).hexdigest()[:16]
