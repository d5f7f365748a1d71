"""``dualid consent receipt-key | verify-receipt``: whoever holds a receipt checks it, and
its proof that the signed log holds the grant, with two public keys and no database."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from dualid import DualId, EventUserData, generate_master_key

from .conftest import Run

KEY = generate_master_key()


@pytest.fixture
def receipt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    monkeypatch.setenv("DUALID_MASTER_KEY", KEY)
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=KEY) as sdk:
        sdk.hosts.register("bistro-7", kind="business", name="Bistro Seven")
        sdk.hosts.require("bistro-7", "reservation", required={"name"}, purpose="the table")
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        reg = sdk.events.register(agent, "bistro-7", "reservation", "res-1", share={"name"})
        (grant,) = [g for g in sdk.consent.grants(agent) if g.event_id == reg.event_id]
        path = tmp_path / "receipt.json"
        path.write_text(json.dumps(sdk.consent.receipt(grant.id)))
    return url, path


def _keys(cli: Run, url: str, tmp_path: Path) -> list[str]:
    signer = cli("consent", "receipt-key", "--db", url)
    log = cli("audit", "public-key", "--db", url)
    assert signer.exit_code == log.exit_code == 0, signer.output + log.output
    assert signer.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert signer.stdout != log.stdout
    (tmp_path / "receipt.pub").write_text(signer.stdout)
    (tmp_path / "log.pub").write_text(log.stdout)
    return ["--receipt-key", str(tmp_path / "receipt.pub"), "--log-key", str(tmp_path / "log.pub")]


def test_a_receipt_and_its_proof_verify_with_public_keys_only(
    cli: Run, receipt: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, path = receipt
    keys = _keys(cli, url, tmp_path)
    monkeypatch.delenv("DUALID_MASTER_KEY")
    Path(url.removeprefix("sqlite:///")).unlink()  # no database either
    ok = cli("consent", "verify-receipt", str(path), *keys)
    assert ok.exit_code == 0, ok.output
    doc = json.loads(path.read_text())
    assert f"entry {doc['log']['seq']} of the log {doc['log']['origin']}" in ok.stdout
    signature_only = cli("consent", "verify-receipt", str(path), *keys[:2])
    assert signature_only.exit_code == 0, signature_only.output
    assert "signature only" in signature_only.stdout


def test_an_edited_receipt_or_proof_fails_with_exit_1(
    cli: Run, receipt: tuple[str, Path], tmp_path: Path
) -> None:
    url, path = receipt
    keys = _keys(cli, url, tmp_path)
    doc = json.loads(path.read_text())
    for edit in ("fields", "entry_hash"):
        changed = json.loads(json.dumps(doc))
        if edit == "fields":
            changed["consent"]["fields"] = ["name", "phone_number"]
        else:
            changed["log"]["entry_hash"] = "0" * 64
        path.write_text(json.dumps(changed))
        bad = cli("consent", "verify-receipt", str(path), *keys)
        assert bad.exit_code == 1, bad.output
        assert "receipt INVALID" in bad.stdout
    # the log key given as the receipt key: the signature is not its
    swapped = ["--receipt-key", keys[3], "--log-key", keys[3]]
    path.write_text(json.dumps(doc))
    assert cli("consent", "verify-receipt", str(path), *swapped).exit_code == 1


def test_unreadable_input_is_a_usage_error(
    cli: Run, receipt: tuple[str, Path], tmp_path: Path
) -> None:
    url, path = receipt
    keys = _keys(cli, url, tmp_path)
    (tmp_path / "junk.json").write_text("[1, 2")
    assert cli("consent", "verify-receipt", str(tmp_path / "junk.json"), *keys).exit_code == 2
    (tmp_path / "list.json").write_text("[1, 2]")
    assert cli("consent", "verify-receipt", str(tmp_path / "list.json"), *keys).exit_code == 2
    (tmp_path / "bad.pub").write_text("not a key")
    bad_key = ["--receipt-key", str(tmp_path / "bad.pub")]
    result = cli("consent", "verify-receipt", str(path), *bad_key)
    assert result.exit_code == 2
    assert "not an Ed25519 public key" in result.output


def test_a_malformed_or_wrong_type_key_is_a_usage_error_without_a_traceback(
    dualid: Run, receipt: tuple[str, Path], tmp_path: Path
) -> None:
    url, path = receipt
    with DualId.open(url, keys=KEY) as sdk:
        (tmp_path / "receipt.pub").write_text(sdk.consent.receipt_public_key())
    x25519_pem = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    malformed = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    cases = [
        ("--receipt-key", malformed, "not a well-formed PEM key [INVALID_CHECKPOINT]"),
        ("--receipt-key", x25519_pem, "not an Ed25519 key [INVALID_CHECKPOINT]"),
        ("--receipt-key", b"\xff\xfe\x00\x01", "is not UTF-8 text"),
        ("--log-key", malformed, "not a well-formed PEM key [INVALID_CHECKPOINT]"),
    ]
    for option, content, message in cases:
        (tmp_path / "bad.pub").write_bytes(content)
        keys = {"--receipt-key": str(tmp_path / "receipt.pub"), option: str(tmp_path / "bad.pub")}
        result = dualid("consent", "verify-receipt", str(path), *itertools.chain(*keys.items()))
        assert result.exit_code == 2, (option, message, result.output)
        assert message in result.stderr, (option, message, result.output)
        assert "Traceback" not in result.output
