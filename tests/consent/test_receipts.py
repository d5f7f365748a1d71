from __future__ import annotations

import copy
import json

import pytest

from dualid import DataField, EventType
from dualid.errors import UnknownGrant

SHARE = {DataField.NAME, DataField.PHONE_NUMBER}


@pytest.fixture
def receipt(mworld):
    sdk = mworld.sdk
    sdk.events.register(mworld.ana, mworld.host, EventType.RESERVATION, "res-1", share=SHARE)
    grant = sdk.consent.grant(
        mworld.ana, mworld.host, fields={"email"}, event_id="res-1", purpose="confirmation"
    )
    return grant, sdk.consent.receipt(grant.id)


def test_receipt_content(mworld, receipt):
    grant, rec = receipt
    json.dumps(rec)  # JSON-serialisable
    assert rec["recipient"]["host_id"] == mworld.host
    assert rec["consent"]["grant_id"] == grant.id
    assert rec["consent"]["fields"] == ["email"]
    assert rec["consent"]["event"] == {"id": "res-1", "type": "reservation"}
    assert rec["consent"]["state"] == "active"
    assert rec["issued_uncertainty_ms"] == 5.0
    assert rec["subject"]["ref"] == mworld.sdk.events.attendees(mworld.host, "res-1")[0].ref
    assert mworld.ana not in json.dumps(rec)  # P1: the pairwise ref, never the agentId


def test_receipt_verifies_and_any_edit_breaks_it(mworld, receipt):
    _, rec = receipt
    sdk = mworld.sdk
    assert sdk.consent.verify_receipt(rec)
    edits = [
        lambda r: r["consent"]["fields"].append("birthday"),
        lambda r: r["consent"].__setitem__("state", "revoked"),
        lambda r: r["recipient"].__setitem__("host_id", "club-9"),
        lambda r: r.__setitem__("issued_at", "2020-01-01T00:00:00+00:00"),
        lambda r: r["signature"].__setitem__("value", "AAAA"),
        lambda r: r.pop("signature"),
        lambda r: r["signature"].__setitem__("alg", "none"),
    ]
    for edit in edits:
        forged = copy.deepcopy(rec)
        edit(forged)
        assert not sdk.consent.verify_receipt(forged)


def test_receipt_from_another_store_does_not_verify(mworld, receipt):
    from dualid.testing import memory_sdk

    _, rec = receipt
    with memory_sdk() as other:
        assert not other.consent.verify_receipt(rec)
    assert "BEGIN PUBLIC KEY" in mworld.sdk.consent.receipt_public_key()


def test_receipt_reflects_revocation(mworld, receipt):
    grant, _ = receipt
    mworld.sdk.consent.revoke(grant.id)
    rec = mworld.sdk.consent.receipt(grant.id)
    assert rec["consent"]["state"] == "revoked"
    assert rec["consent"]["revoked_at"]
    assert mworld.sdk.consent.verify_receipt(rec)
    with pytest.raises(UnknownGrant):
        mworld.sdk.consent.receipt("gr_nope")


def test_receipt_owner_check(mworld, receipt):
    grant, _ = receipt
    assert mworld.sdk.consent.receipt(grant.id, agent_id=mworld.ana)["consent"]["grant_id"]
    with pytest.raises(UnknownGrant):
        mworld.sdk.consent.receipt(grant.id, agent_id=mworld.bo)


def _receipt_with_urlsafe_characters(sdk, grant_id):
    # A signature's encoding differs between the two alphabets only where it has '-' or '_';
    # each receipt is signed afresh (new issue time), so a few tries find one that does.
    for _ in range(50):
        rec = sdk.consent.receipt(grant_id)
        if set(rec["signature"]["value"]) & {"-", "_"}:
            return rec
    raise AssertionError("no signature with '-' or '_' in 50 receipts")


def test_receipt_signature_must_be_canonical_urlsafe_base64(mworld, receipt):
    grant, rec = receipt
    sdk = mworld.sdk
    rec = _receipt_with_urlsafe_characters(sdk, grant.id)
    value = rec["signature"]["value"]
    assert value.endswith("==")
    assert sdk.consent.verify_receipt(rec)
    variants = {
        "standard alphabet": value.replace("-", "+").replace("_", "/"),
        "data after the padding": value + "AA",
        "junk after the padding": value + "!",
        "unpadded": value.rstrip("="),
        "embedded newline": value[:40] + "\n" + value[40:],
        "not a string": value.encode(),
    }
    for name, variant in variants.items():
        forged = copy.deepcopy(rec)
        forged["signature"]["value"] = variant
        assert not sdk.consent.verify_receipt(forged), name
