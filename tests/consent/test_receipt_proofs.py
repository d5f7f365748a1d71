"""A receipt carries its grant's audit entry (seq and hash), a signed checkpoint and the
entry's inclusion proof (issue 14): a person, a host or a regulator checks with two public
keys and no database that the log the operator signed holds the grant, and the receipt
still names no agentId (P1)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dualid import DataField, DualId, EventType
from dualid.audit import AuditProblem, Checkpoint, FileWitness, InclusionProof, verify_inclusion
from dualid.consent import verify_receipt
from dualid.errors import InvalidInput, StoreUnavailable
from dualid.testing import FakeClock

from ..support import execute, rewrite_partition, rows
from .conftest import World, setup_world

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}


def _keys(sdk: DualId) -> tuple[object, str]:
    pem = sdk.consent.receipt_public_key().encode()
    return serialization.load_pem_public_key(pem), sdk.audit.public_key()


def _granted(world: World) -> tuple[str, dict[str, object]]:
    sdk = world.sdk
    sdk.events.register(world.ana, world.host, EventType.RESERVATION, "res-1", share=SHARE)
    grant = sdk.consent.grant(
        world.ana, world.host, fields={"email"}, event_id="res-1", purpose="confirmation"
    )
    return grant.id, sdk.consent.receipt(grant.id)


def test_a_receipt_proves_its_grant_entry_with_public_keys_only(world: World) -> None:
    grant_id, rec = _granted(world)
    sdk = world.sdk
    log = rec["log"]
    assert isinstance(log, dict)
    receipt_key, log_key = _keys(sdk)
    assert verify_receipt(rec, receipt_key, log_key)  # type: ignore[arg-type]
    assert sdk.consent.verify_receipt(rec)
    # the entry at that seq is the grant's, and the proof proves its body too
    (entry,) = sdk.audit.entries(after=log["seq"] - 1, limit=1)
    assert entry.action == "consent.granted"
    assert entry.details["grant_id"] == grant_id
    assert entry.entry_hash == log["entry_hash"]
    checkpoint = Checkpoint.parse(log["checkpoint"])
    proof = InclusionProof.from_dict(log["proof"])
    assert verify_inclusion(entry, proof, checkpoint, log_key)
    assert checkpoint.origin == log["origin"] == sdk.audit.origin
    # P1: the entry names the agent; the receipt carries its hash, never the agentId
    assert entry.subject == world.ana
    assert world.ana not in json.dumps(rec)
    for stored in rows(sdk, "SELECT subject FROM dualid_audit"):
        assert stored.subject is None or stored.subject not in json.dumps(rec)


def test_a_grant_made_by_a_registration_proves_the_registration_entry(mworld: World) -> None:
    sdk = mworld.sdk
    reg = sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "r-2", share=SHARE)
    (grant,) = [g for g in sdk.consent.grants(mworld.ana) if g.event_id == "r-2"]
    rec = sdk.consent.receipt(grant.id)
    (entry,) = sdk.audit.entries(after=rec["log"]["seq"] - 1, limit=1)
    assert entry.action == "registration.created"
    assert entry.details["registration_id"] == reg.id
    assert sdk.consent.verify_receipt(rec)


@pytest.mark.parametrize(
    "edit",
    [
        lambda log: log["proof"]["path"].__setitem__(0, log["proof"]["path"][1]),
        lambda log: log.__setitem__("entry_hash", "0" * 64),
        lambda log: log.__setitem__("seq", log["seq"] + 1),
        lambda log: log["proof"].__setitem__("index", log["proof"]["index"] + 1),
        lambda log: log.__setitem__("checkpoint", "not a note"),
        lambda log: log.pop("proof"),
    ],
    ids=["path", "hash", "seq", "index", "checkpoint", "no-proof"],
)
def test_an_edited_log_section_does_not_verify(mworld: World, edit: object) -> None:
    sdk = mworld.sdk
    for i in range(5):  # a tree with a proof of a few hashes
        sdk.identity.agent_for(f"padding-{i}")
    _, rec = _granted(mworld)
    changed = copy.deepcopy(rec)
    edit(changed["log"])  # type: ignore[operator]
    receipt_key, log_key = _keys(sdk)
    assert not sdk.consent.verify_receipt(changed)
    assert not verify_receipt(changed, receipt_key, log_key)  # type: ignore[arg-type]


def test_the_log_section_is_checked_with_the_logs_key(mworld: World) -> None:
    _, rec = _granted(mworld)
    receipt_key, _ = _keys(mworld.sdk)
    stranger = Ed25519PrivateKey.generate().public_key()
    assert verify_receipt(rec, receipt_key)  # type: ignore[arg-type]  # the signature alone
    assert not verify_receipt(rec, receipt_key, stranger)  # type: ignore[arg-type]
    without = {k: v for k, v in rec.items() if k != "log"}
    assert not verify_receipt(without, receipt_key)  # type: ignore[arg-type]  # signed over it


def test_a_checkpoint_is_made_and_witnessed_only_when_none_covers_the_entry(
    tmp_path: Path, master_key: str, clock: FakeClock
) -> None:
    witness = FileWitness(tmp_path / "witness.log")
    with DualId.open(
        f"sqlite:///{tmp_path}/r.db", keys=master_key, clock=clock, witness=witness
    ) as sdk:
        world = setup_world(sdk)
        assert sdk.audit.latest_checkpoint() is None
        grant_id, rec = _granted(world)
        made = sdk.audit.latest_checkpoint()
        assert made is not None
        assert str(made) == rec["log"]["checkpoint"]
        witnessed = (tmp_path / "witness.log").read_text().splitlines()
        assert [json.loads(line)["checkpoint"] for line in witnessed] == [str(made)]
        again = sdk.consent.receipt(grant_id)  # covered: the stored checkpoint is reused
        assert again["log"]["checkpoint"] == rec["log"]["checkpoint"]
        assert len(rows(sdk, "SELECT size FROM dualid_audit_checkpoint")) == 1


def test_a_receipt_survives_a_rewritten_log_that_its_checkpoint_catches(world: World) -> None:
    _, rec = _granted(world)
    sdk = world.sdk
    log = rec["log"]
    # a database writer edits the grant's entry and re-hashes its partition after it
    (entry,) = sdk.audit.entries(after=log["seq"] - 1, limit=1)
    body = entry.body.replace('"email"', '"phone_number"')
    rewrite_partition(sdk, entry.partition, {entry.pseq: body})
    # ... and deletes the checkpoints kept in the database: the chain alone then holds
    execute(sdk, "DELETE FROM dualid_audit_checkpoint")
    assert sdk.audit.verify().ok
    receipt_key, log_key = _keys(sdk)
    assert verify_receipt(rec, receipt_key, log_key)  # type: ignore[arg-type]
    report = sdk.audit.verify(checkpoint=log["checkpoint"])
    assert not report.ok
    assert report.problem is AuditProblem.FORKED


def test_proof_false_leaves_the_log_out_and_bad_values_are_refused(mworld: World) -> None:
    sdk = mworld.sdk
    grant_id, _ = _granted(mworld)
    rec = sdk.consent.receipt(grant_id, proof=False)
    assert "log" not in rec
    assert sdk.consent.verify_receipt(rec)
    receipt_key, log_key = _keys(sdk)
    assert not verify_receipt(rec, receipt_key, log_key)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        sdk.consent.receipt(grant_id, proof="yes")  # type: ignore[arg-type]


def test_a_checkpoint_key_rotating_meanwhile_leaves_the_log_out_not_the_receipt(
    mworld: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = mworld.sdk

    def rotating(**_: object) -> None:
        raise StoreUnavailable("the checkpoint key rotated while signing; try again")

    monkeypatch.setattr(sdk.audit, "checkpoint", rotating)
    grant_id, rec = _granted(mworld)
    assert "log" not in rec
    assert sdk.consent.verify_receipt(rec)
    assert rec["consent"]["grant_id"] == grant_id
