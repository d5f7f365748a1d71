"""Rotating the receipt signing key (``sdk.keys.rotate_signing``, issue 16 item 6): what
the old key signed still verifies, new receipts name the new key, and a receipt signed by
a retired key at a time provably after its retirement does not verify."""

from __future__ import annotations

import base64
import copy
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dualid import DataField, DualId, EventType, HostKind
from dualid.consent._receipts import canonical
from dualid.crypto._generations import receipt_key_id
from dualid.errors import InvalidInput
from dualid.testing import FakeClock

from ..support import rows, snapshot

HOST = "bistro-7"


@pytest.fixture
def grant_id(sdk: DualId) -> str:
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.require(HOST, EventType.RESERVATION, required={DataField.NAME}, purpose="booking")
    agent = sdk.identity.agent_for("user-1")
    return sdk.consent.grant(agent, HOST, fields={DataField.NAME}, purpose="booking").id


def _resign(receipt: dict[str, Any], key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    """``receipt`` changed and signed again by ``key`` (a forger holding it)."""
    body = {k: v for k, v in copy.deepcopy(receipt).items() if k != "signature"}
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    value = base64.urlsafe_b64encode(key.sign(canonical(body))).decode()
    return {**body, "signature": {"alg": "Ed25519", "value": value}}


def test_receipts_signed_before_the_rotation_still_verify(sdk: DualId, grant_id: str) -> None:
    before = sdk.consent.receipt(grant_id)
    old_pem = sdk.consent.receipt_public_key()
    audit_keys = sdk.audit.public_keys()
    (new,) = sdk.keys.rotate_signing(checkpoints=False)
    assert (new.purpose, new.generation, new.current) == ("receipt-signing", 2, True)
    after = sdk.consent.receipt(grant_id)
    assert sdk.consent.verify_receipt(before)
    assert sdk.consent.verify_receipt(after)
    assert before["signing_key_id"] != after["signing_key_id"] == new.key_id
    keys = sdk.consent.receipt_public_keys()
    assert [(k.generation, k.current) for k in keys] == [(2, True), (1, False)]
    assert keys[1].public_key_pem == old_pem != sdk.consent.receipt_public_key()
    assert keys[1].key_id == before["signing_key_id"]
    assert keys[1].retired_at is not None
    assert sdk.audit.public_keys() == audit_keys  # the checkpoint key did not move
    # Any edit still breaks a receipt, under either key.
    for rec in (before, after):
        edited = copy.deepcopy(rec)
        edited["consent"]["fields"].append("email")
        assert not sdk.consent.verify_receipt(edited)


def test_a_receipt_names_its_key_inside_what_is_signed(sdk: DualId, grant_id: str) -> None:
    sdk.keys.rotate_signing(checkpoints=False)
    rec = sdk.consent.receipt(grant_id)
    old_id = sdk.consent.receipt_public_keys()[1].key_id
    for named in (old_id, "0" * 16, None):
        swapped = copy.deepcopy(rec)
        if named is None:
            del swapped["signing_key_id"]
        else:
            swapped["signing_key_id"] = named
        assert not sdk.consent.verify_receipt(swapped)


def test_a_receipt_that_names_no_key_is_generation_1s(sdk: DualId, grant_id: str) -> None:
    # Receipts issued before receipts named their key (dualid before 0.2) verify under
    # generation 1, also after a rotation; signed by a later key they do not.
    rec = sdk.consent.receipt(grant_id)
    root_key = sdk._rt.derived.signing
    legacy = _resign(rec, root_key, signing_key_id=None)
    assert "signing_key_id" not in legacy
    assert sdk.consent.verify_receipt(legacy)
    sdk.keys.rotate_signing(checkpoints=False)
    assert sdk.consent.verify_receipt(legacy)
    current = sdk._rt.keyring.signer
    with sdk.store.read() as conn:
        new_key = current(conn, "receipt-signing").key
    assert not sdk.consent.verify_receipt(_resign(rec, new_key, signing_key_id=None))


def test_a_retired_key_signs_nothing_after_its_retirement(
    sdk: DualId, grant_id: str, clock: FakeClock
) -> None:
    rec = sdk.consent.receipt(grant_id)
    old_key = sdk._rt.derived.signing  # generation 1: anyone holding it could still sign
    sdk.keys.rotate_signing(checkpoints=False)
    retired = sdk.consent.receipt_public_keys()[1].retired_at
    assert retired is not None
    # Dated within the clock's bounds of the retirement: it may have been signed before.
    assert sdk.consent.verify_receipt(_resign(rec, old_key))
    clock.advance(timedelta(minutes=5))
    late = sdk.consent.receipt(grant_id)
    forged = _resign(late, old_key, signing_key_id=receipt_key_id(old_key.public_key()))
    assert forged["issued_at"] > retired.isoformat()
    assert not sdk.consent.verify_receipt(forged)
    # What the old key can still do is backdate; docs/keys.md says so.
    backdated = _resign(forged, old_key, issued_at=rec["issued_at"])
    assert sdk.consent.verify_receipt(backdated)


def test_a_later_rotation_destroys_the_secret_and_keeps_the_public_key(
    sdk: DualId, grant_id: str
) -> None:
    sdk.keys.rotate_signing(checkpoints=False)
    second = sdk.consent.receipt(grant_id)
    sdk.keys.rotate_signing(checkpoints=False)
    names = {n for (n,) in rows(sdk, "SELECT name FROM dualid_secret")}
    assert names == {"root", "receipt-signing/3"}
    assert sdk.consent.verify_receipt(second)
    assert [k.generation for k in sdk.consent.receipt_public_keys()] == [3, 2, 1]


def test_another_instance_signs_with_the_new_key_at_once(
    db_url: str, master_key: str, clock: FakeClock, sdk: DualId, grant_id: str
) -> None:
    with DualId.open(db_url, keys=master_key, clock=clock) as other:
        first = other.consent.receipt(grant_id)  # generation 1, as it was
        (new,) = sdk.keys.rotate_signing(checkpoints=False)
        assert other.consent.receipt(grant_id)["signing_key_id"] == new.key_id
        assert other.consent.verify_receipt(first)


def test_each_rotation_is_audited(sdk: DualId, grant_id: str) -> None:
    sdk.keys.rotate_signing()
    entries = [e for e in sdk.audit.entries() if e.action == "keys.signing_rotated"]
    assert [dict(e.details) for e in entries] == [
        {"key": "receipt-signing", "generation": 2, "retired": 1},
        {"key": "audit-signing", "generation": 2, "retired": 1},
    ]
    assert all(e.subject is None and e.host_id is None for e in entries)
    assert sdk.audit.verify(deep=True).ok


@pytest.mark.parametrize(
    "kwargs",
    [
        {"receipts": False, "checkpoints": False},
        {"receipts": "yes"},
        {"checkpoints": None},
        {"receipts": 1},
    ],
)
def test_bad_arguments_change_nothing(sdk: DualId, grant_id: str, kwargs: dict[str, Any]) -> None:
    before = snapshot(sdk)
    with pytest.raises(InvalidInput):
        sdk.keys.rotate_signing(**kwargs)
    assert snapshot(sdk) == before
