"""Rotating the checkpoint signing key (``sdk.keys.rotate_signing``, issue 16 item 6):
checkpoints signed before still verify and prove, the log keeps its origin, each key has
its own C2SP key hash, and a checkpoint signed by a retired key after its retirement is
refused; a checkpoint signed while the key rotates is signed again with the new one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dualid import DualId, EventUserData
from dualid.audit import AuditProblem, Checkpoint, verify_consistency, verify_inclusion
from dualid.audit._checkpoint import sign_checkpoint
from dualid.errors import InvalidCheckpoint
from dualid.store import _audit
from dualid.testing import FakeClock

from ..support import rows


def _write(sdk: DualId, n: int = 3) -> None:
    for i in range(n):
        agent = sdk.identity.agent_for(f"user-{i}")
        sdk.profiles.put(agent, EventUserData(name=f"Ana {i}"))


def _kid(cp: Checkpoint) -> bytes:
    ((_, kid, _),) = cp.signatures
    return kid


def test_checkpoints_before_the_rotation_verify_and_prove(sdk: DualId) -> None:
    _write(sdk)
    old = sdk.audit.checkpoint(witness=False)
    old_pem, origin = sdk.audit.public_key(), sdk.audit.origin
    (new_key,) = sdk.keys.rotate_signing(receipts=False)
    _write(sdk, 2)
    new = sdk.audit.checkpoint(witness=False)
    assert sdk.audit.origin == origin == old.origin == new.origin  # the log keeps its name
    assert _kid(old) != _kid(new)  # C2SP key hashes differ per key
    assert _kid(new).hex() == new_key.key_id
    assert sdk.audit.verify(checkpoint=old).ok
    assert sdk.audit.verify(checkpoint=new).ok
    assert sdk.audit.verify().ok  # against the stored (new) one
    assert sdk.audit.public_key() != old_pem
    keys = sdk.audit.public_keys()
    assert [(k.generation, k.current, k.public_key_pem == old_pem) for k in keys] == [
        (2, True, False),
        (1, False, True),
    ]
    verifiers = sdk.audit.verifier_keys()
    assert verifiers[0] == sdk.audit.verifier_key()
    assert [v.split("+")[1] for v in verifiers] == [_kid(new).hex(), _kid(old).hex()]
    # Offline: each checkpoint with its own key, or both with the list.
    assert new.verify_signature(verifiers[0])
    assert not new.verify_signature(verifiers[1])
    assert old.verify_signature(verifiers[1])
    assert not old.verify_signature(verifiers[0])
    proof = sdk.audit.prove_consistency(old, new)
    assert verify_consistency(old, new, proof, verifiers)
    assert not verify_consistency(old, new, proof, verifiers[0])
    entry = sdk.audit.entries(limit=1)[0]
    assert verify_inclusion(entry, sdk.audit.prove(entry.seq, old), old, old_pem)
    assert verify_inclusion(entry, sdk.audit.prove(entry.seq, new), new, verifiers)


def test_the_next_checkpoint_builds_on_one_the_old_key_signed(sdk: DualId) -> None:
    _write(sdk)
    sdk.audit.checkpoint(witness=False)
    sdk.keys.rotate_signing(receipts=False)
    prior = sdk.audit.latest_checkpoint()
    assert prior is not None  # the old key's checkpoint is still this log's
    _write(sdk, 1)
    new = sdk.audit.checkpoint(witness=False)
    assert sdk.audit.latest_checkpoint() == new
    assert sdk.audit.verify(checkpoint=prior).ok


def test_a_retired_key_signs_no_checkpoint_after_its_retirement(
    sdk: DualId, clock: FakeClock
) -> None:
    _write(sdk)
    old_key = sdk._rt.derived.audit_signing  # generation 1, derivable from the root
    cp = sdk.audit.checkpoint(witness=False)
    sdk.keys.rotate_signing(receipts=False)
    clock.advance(timedelta(minutes=5))
    later = clock.now()
    forged = sign_checkpoint(cp.origin, cp.partitions, later.time, later.uncertainty, old_key)
    with pytest.raises(InvalidCheckpoint, match="after that key was retired"):
        sdk.audit.verify(checkpoint=forged)
    with pytest.raises(InvalidCheckpoint):
        sdk.audit.prove(1, str(forged))
    # Dated before the retirement, the old key's signature stands (docs/keys.md: witnesses
    # are what catch a backdated one over a rewritten log).
    backdated = sign_checkpoint(cp.origin, cp.partitions, cp.time, cp.uncertainty, old_key)
    assert sdk.audit.verify(checkpoint=backdated).ok


def test_a_stored_checkpoint_of_a_retired_key_after_its_retirement_is_tampering(
    sdk: DualId, clock: FakeClock
) -> None:
    _write(sdk)
    cp = sdk.audit.checkpoint(witness=False)
    sdk.keys.rotate_signing(receipts=False)
    assert sdk.audit.verify().ok
    clock.advance(timedelta(minutes=5))
    later = clock.now()
    forged = sign_checkpoint(
        cp.origin, cp.partitions, later.time, later.uncertainty, sdk._rt.derived.audit_signing
    )
    (ranges,) = rows(sdk, "SELECT ranges FROM dualid_audit_checkpoint")
    with sdk.store.write() as conn:
        _audit.insert_checkpoint(conn, cp.size + 1, str(forged), ranges[0], 0)
    report = sdk.audit.verify()
    assert (report.ok, report.problem) == (False, AuditProblem.TAMPERED)


def test_a_checkpoint_signed_while_its_key_rotates_is_signed_again(
    db_url: str, master_key: str, clock: FakeClock, sdk: DualId
) -> None:
    """The checkpoint's snapshot still shows the old key when another instance rotates
    it: what it signed is not stored (its key was retired meanwhile); it signs again."""
    _write(sdk)
    with DualId.open(db_url, keys=master_key, clock=clock) as other:
        armed = [True]

        def rotate_meanwhile(sql: str) -> None:
            if armed[0] and "FROM dualid_key_generation g" in sql:
                armed[0] = False
                other.keys.rotate_signing(receipts=False)

        sdk.store.hooks.append(rotate_meanwhile)
        try:
            cp = sdk.audit.checkpoint(witness=False)
        finally:
            sdk.store.hooks.remove(rotate_meanwhile)
    assert not armed[0]
    current, retired = sdk.audit.public_keys()
    assert cp.verify_signature(current.public_key())
    assert not cp.verify_signature(retired.public_key())
    notes = [n for (n,) in rows(sdk, "SELECT note FROM dualid_audit_checkpoint")]
    assert notes == [str(cp)]  # nothing the retired key signed was kept
    assert sdk.audit.verify().ok
