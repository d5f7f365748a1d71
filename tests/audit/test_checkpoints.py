"""Signed checkpoints, witnesses and proofs (issue 14): a database writer who rewinds,
truncates or rewrites the log is caught against a checkpoint a witness holds; an entry's
inclusion is provable to anyone with the public key and no database."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dualid import DualId, EventUserData
from dualid.audit import (
    AuditProblem,
    Checkpoint,
    FileWitness,
    HttpWitness,
    WitnessUnavailable,
    verify_consistency,
    verify_inclusion,
)
from dualid.audit._checkpoint import load_public_key, load_public_keys, sign_checkpoint
from dualid.audit._merkle import leaf_hash, root_of
from dualid.errors import InvalidCheckpoint, InvalidInput
from dualid.testing import FakeClock

from ..support import execute, rehash_last, rewrite_partition, rows


def _write(sdk: DualId, people: int = 3, puts: int = 2) -> list[str]:
    agents = []
    for i in range(people):
        agent = sdk.identity.agent_for(f"user-{i}")
        for j in range(puts):
            sdk.profiles.put(agent, EventUserData(name=f"Ana {j}"))
        agents.append(agent)
    return agents


def _busiest_partition(sdk: DualId) -> tuple[int, list[object]]:
    entries = rows(sdk, "SELECT seq, part, pseq, body, prev_hash, entry_hash FROM dualid_audit")
    counts: dict[int, int] = {}
    for e in entries:
        counts[e.part] = counts.get(e.part, 0) + 1
    part = max(counts, key=lambda p: (counts[p], -p))
    return part, sorted((e for e in entries if e.part == part), key=lambda e: e.pseq)


def test_a_checkpoint_is_a_c2sp_signed_note_that_round_trips(sdk: DualId) -> None:
    _write(sdk)
    cp = sdk.audit.checkpoint()
    text = str(cp)
    lines = text.split("\n")
    assert lines[0] == sdk.audit.origin
    assert int(lines[1]) == cp.size == sdk.audit.verify().entries == 9
    assert lines[3].startswith("time ")
    _, sigs = text.split("\n\n")
    assert sigs.startswith("\u2014 " + sdk.audit.origin + " ")
    assert Checkpoint.parse(text) == cp
    assert cp.verify_signature(sdk.audit.public_key())
    assert cp.verify_signature(sdk.audit.verifier_key())
    assert not cp.verify_signature(Ed25519PrivateKey.generate().public_key())
    # the time line is the clock's reading and its bound
    assert cp.uncertainty == sdk.clock.now().uncertainty


def test_with_one_partition_the_root_is_the_rfc9162_head_of_the_chain_hashes(
    tmp_path: Path, master_key: str, clock: FakeClock
) -> None:
    with DualId.open(f"sqlite:///{tmp_path}/a.db", keys=master_key, clock=clock) as sdk:
        _write(sdk)
        cp = sdk.audit.checkpoint()
        hashes = [e.entry_hash for e in sdk.audit.entries()]
        assert len(cp.partitions) == 1
        assert cp.root == root_of([leaf_hash(bytes.fromhex(h)) for h in hashes])


def test_postgres_has_sixteen_partitions_and_one_persons_entries_stay_in_one(
    sdk: DualId, db_url: str
) -> None:
    agents = _write(sdk, people=6)
    cp = sdk.audit.checkpoint()
    expected = 16 if db_url.startswith("postgresql") else 1
    assert len(cp.partitions) == expected == sdk.store.audit_partitions
    for agent in agents:
        parts = {
            r.part for r in rows(sdk, "SELECT part FROM dualid_audit WHERE subject = :a", a=agent)
        }
        assert len(parts) == 1


def test_incremental_checkpoints_equal_one_built_from_scratch(sdk: DualId) -> None:
    _write(sdk, people=2)
    sdk.audit.checkpoint()
    _write(sdk, people=4)
    incremental = sdk.audit.checkpoint()
    execute(sdk, "DELETE FROM dualid_audit_checkpoint")
    scratch = sdk.audit.checkpoint()
    assert (scratch.size, scratch.root, scratch.partitions) == (
        incremental.size,
        incremental.root,
        incremental.partitions,
    )


def _rewind(sdk: DualId, keep: int) -> None:
    """What a database writer can do without any key: delete the newest entries of a
    partition and point its head at entry ``keep`` (no hashing needed)."""
    part, chain = _busiest_partition(sdk)
    kept = chain[keep - 1]
    execute(sdk, "DELETE FROM dualid_audit WHERE part = :p AND pseq > :k", p=part, k=keep)
    execute(
        sdk,
        "UPDATE dualid_audit_head SET pseq = :k, seq = :s, entry_hash = :h WHERE id = :p",
        k=keep,
        s=kept.seq,  # type: ignore[attr-defined]
        h=kept.entry_hash,  # type: ignore[attr-defined]
        p=part,
    )


def test_a_rewound_log_verifies_alone_but_not_against_the_witness(
    sdk: DualId, tmp_path: Path
) -> None:
    witness = FileWitness(tmp_path / "witness.log")
    sdk.audit.witness = witness
    _write(sdk)
    sdk.audit.checkpoint()
    _rewind(sdk, keep=2)
    # the stored checkpoint catches a writer who did not know about it ...
    report = sdk.audit.verify()
    assert (report.ok, report.problem) == (False, AuditProblem.TRUNCATED)
    # ... one who also deleted the stored checkpoints leaves a log that verifies alone ...
    execute(sdk, "DELETE FROM dualid_audit_checkpoint")
    assert sdk.audit.verify().ok
    # ... but not against what the witness holds
    report = sdk.audit.verify(checkpoint=witness.latest())
    assert (report.ok, report.problem, report.checkpoint_size) == (
        False,
        AuditProblem.TRUNCATED,
        9,
    )


def test_a_consistently_rewritten_past_is_forked(sdk: DualId, tmp_path: Path) -> None:
    witness = FileWitness(tmp_path / "witness.log")
    sdk.audit.witness = witness
    _write(sdk)
    sdk.audit.checkpoint()
    part, chain = _busiest_partition(sdk)
    # rewrite the partition's first entry and re-hash every entry after it, head included
    first = chain[0].body.replace('"action":"', '"action":"x', 1)  # type: ignore[attr-defined]
    rewrite_partition(sdk, part, {1: first})
    execute(sdk, "DELETE FROM dualid_audit_checkpoint")
    assert sdk.audit.verify().ok  # internally consistent
    report = sdk.audit.verify(checkpoint=witness.latest())
    assert (report.ok, report.problem, report.partition) == (False, AuditProblem.FORKED, part)


@pytest.mark.parametrize("position", [0, -5])
def test_an_entry_outside_the_numbering_is_tampering(sdk: DualId, position: int) -> None:
    _write(sdk)
    part, chain = _busiest_partition(sdk)
    first = chain[0]
    execute(
        sdk,
        "INSERT INTO dualid_audit (seq, part, pseq, subject, body, prev_hash, entry_hash)"
        " VALUES (:s, :p, :q, NULL, :b, :ph, :h)",
        s=position - 1000,
        p=part,
        q=position,
        b=first.body,  # type: ignore[attr-defined]
        ph="0" * 64,
        h=first.entry_hash,  # type: ignore[attr-defined]
    )
    report = sdk.audit.verify()
    assert (report.ok, report.problem, report.first_bad) == (
        False,
        AuditProblem.TAMPERED,
        position - 1000,
    )


def test_an_entry_in_a_partition_the_log_does_not_have_is_tampering(sdk: DualId) -> None:
    _write(sdk)
    execute(sdk, "UPDATE dualid_audit SET part = 99 WHERE seq = 1")
    report = sdk.audit.verify()
    assert (report.ok, report.problem) == (False, AuditProblem.TAMPERED)


def test_a_deleted_head_row_is_tampering_and_appends_refuse_it(sdk: DualId) -> None:
    agents = _write(sdk)
    part = rows(sdk, "SELECT part FROM dualid_audit WHERE subject = :a", a=agents[0])[0].part
    execute(sdk, "DELETE FROM dualid_audit_head WHERE id = :p", p=part)
    assert sdk.audit.verify().problem == AuditProblem.TAMPERED
    from dualid.errors import AuditError

    with pytest.raises(AuditError):
        sdk.profiles.put(agents[0], EventUserData(name="Later"))


def test_every_entry_has_a_proof_anyone_can_check_without_the_database(sdk: DualId) -> None:
    _write(sdk)
    cp = sdk.audit.checkpoint()
    public = sdk.audit.public_key()
    entries = sdk.audit.entries()
    for entry in entries:
        proof = sdk.audit.prove(entry.seq, cp)
        assert verify_inclusion(entry, proof, cp, public)
        # it travels as JSON
        again = type(proof).from_dict(proof.to_dict())
        assert verify_inclusion(entry, again, cp, public)
    entry = entries[-1]
    proof = sdk.audit.prove(entry.seq, cp)
    other = next(e for e in entries if e.seq != entry.seq)
    assert not verify_inclusion(other, proof, cp, public)  # another entry
    assert not verify_inclusion(entry, proof, cp, Ed25519PrivateKey.generate().public_key())
    edited = entry.body.replace('"action":"', '"action":"x')
    assert edited != entry.body
    forged = entry.__class__(**{**entry.__dict__, "body": edited})
    assert not verify_inclusion(forged, proof, cp, public)  # an edited body


def test_an_entry_written_after_the_checkpoint_has_no_proof_in_it(sdk: DualId) -> None:
    _write(sdk, people=1)
    cp = sdk.audit.checkpoint()
    later = sdk.identity.agent_for("late")
    (entry,) = sdk.audit.entries(subject=later)
    with pytest.raises(InvalidInput):
        sdk.audit.prove(entry.seq, cp)
    with pytest.raises(InvalidInput):
        sdk.audit.prove(10**9, cp)


def test_a_later_checkpoint_is_provably_consistent_with_an_earlier_one(sdk: DualId) -> None:
    _write(sdk, people=2)
    old = sdk.audit.checkpoint()
    _write(sdk, people=5)
    new = sdk.audit.checkpoint()
    public = sdk.audit.public_key()
    proof = sdk.audit.prove_consistency(old, new)
    assert verify_consistency(old, new, proof, public)
    assert not verify_consistency(new, old, proof, public)
    # a log forked after `old`: the operator's signature on a different history
    key = sdk._rt.derived.audit_signing  # the operator holds the key, and still cannot
    heads = [
        h if h.size == 0 or h == o else type(h)(h.partition, h.size, bytes(32))
        for h, o in zip(new.partitions, old.partitions, strict=True)
    ]
    forked = sign_checkpoint(new.origin, heads, new.time, new.uncertainty, key)
    assert not verify_consistency(old, forked, proof, public)


def test_checkpoints_of_another_log_or_malformed_text_are_refused(sdk: DualId) -> None:
    _write(sdk, people=1)
    cp = sdk.audit.checkpoint()
    stranger = sign_checkpoint(
        cp.origin, cp.partitions, cp.time, cp.uncertainty, Ed25519PrivateKey.generate()
    )
    with pytest.raises(InvalidCheckpoint):
        sdk.audit.verify(checkpoint=stranger)
    for bad in ["", "x\n1\n", str(cp).replace("\n\n", "\n"), str(cp).replace("time ", "tim ")]:
        with pytest.raises(InvalidCheckpoint):
            Checkpoint.parse(bad)
    with pytest.raises(InvalidCheckpoint):
        sdk.audit.verify(checkpoint=str(cp).replace(cp.origin, "dualid/someone-else"))


def _pem(key: rsa.RSAPublicKey | x25519.X25519PublicKey | Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


_NOT_ED25519_KEYS = {
    "malformed PEM": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    "PEM body not base64": "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
    "truncated PEM": _pem(Ed25519PrivateKey.generate().public_key())[:70],
    "non-PEM bytes": b"\xff\xfe\x00 not text",
    "RSA PEM": _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
    "X25519 PEM": _pem(x25519.X25519PrivateKey.generate().public_key()),
    "not a key": 42,
}


@pytest.mark.parametrize("bad", _NOT_ED25519_KEYS.values(), ids=_NOT_ED25519_KEYS.keys())
def test_a_public_key_that_is_not_an_ed25519_key_is_invalid_checkpoint(
    sdk: DualId, bad: object
) -> None:
    # InvalidCheckpoint with our message, never cryptography's ValueError or a TypeError
    with pytest.raises(InvalidCheckpoint) as caught:
        load_public_key(bad)  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_CHECKPOINT"
    assert "key" in caught.value.message
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
    if isinstance(bad, str):
        with pytest.raises(InvalidCheckpoint):
            load_public_keys(bad)
    _write(sdk, people=1)
    cp = sdk.audit.checkpoint()
    with pytest.raises(InvalidCheckpoint):
        cp.verify_signature(bad)  # type: ignore[arg-type]
    assert cp.verify_signature(sdk.audit.public_key())


def test_the_schedule_checkpoints_every_n_writes_and_on_close(
    tmp_path: Path, master_key: str, clock: FakeClock
) -> None:
    witness = FileWitness(tmp_path / "witness.log")
    url = f"sqlite:///{tmp_path}/a.db"
    with DualId.open(url, keys=master_key, clock=clock, witness=witness, checkpoint_every=4):
        pass
    sdk = DualId.open(url, keys=master_key, clock=clock, witness=witness, checkpoint_every=4)
    _write(sdk, people=4, puts=1)  # 8 writes
    sdk.close()
    kept = witness.checkpoints()
    assert kept, "no checkpoint reached the witness"
    assert kept[-1].size == 8  # the one made on close covers everything
    assert all(a.size <= b.size for a, b in itertools.pairwise(kept))
    with DualId.open(url, keys=master_key, clock=clock) as reopened:
        assert reopened.audit.verify(checkpoint=witness.latest()).ok


class _Receiver(BaseHTTPRequestHandler):
    notes: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.notes.append(self.rfile.read(length).decode())
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        if not self.notes:
            self.send_response(404)
            self.end_headers()
            return
        body = self.notes[-1].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    notes: list[str] = []
    handler = type("Handler", (_Receiver,), {"notes": notes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints", notes
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_witness_receives_each_checkpoint(
    sdk: DualId, receiver: tuple[str, list[str]]
) -> None:
    url, notes = receiver
    witness = HttpWitness(url)
    assert witness.latest() is None
    sdk.audit.witness = witness
    _write(sdk, people=1)
    cp = sdk.audit.checkpoint()
    assert notes == [str(cp)]
    assert witness.latest() == cp
    assert sdk.audit.verify(checkpoint=witness.latest()).ok


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe not text\n", "not UTF-8"), (b"{not json}\n", "malformed line")],
)
def test_a_witness_file_that_is_not_a_log_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "witness.log"
    path.write_bytes(content)
    witness = FileWitness(path)
    with pytest.raises(WitnessUnavailable, match=message) as info:
        witness.checkpoints()
    assert info.value.code == WitnessUnavailable.code
    with pytest.raises(WitnessUnavailable):
        witness.latest()


def test_a_witness_that_is_down_is_a_clear_error_and_the_checkpoint_is_kept(
    sdk: DualId,
) -> None:
    sdk.audit.witness = HttpWitness("http://127.0.0.1:9/checkpoints", timeout=2)
    _write(sdk, people=1)
    with pytest.raises(WitnessUnavailable):
        sdk.audit.checkpoint()
    kept = sdk.audit.latest_checkpoint()
    assert kept is not None
    assert kept.size == 3


def test_no_checkpoint_is_signed_over_an_unreadable_body(sdk: DualId) -> None:
    # verify() does not decode again what a checkpoint covers, so none may cover garbage.
    from dualid.errors import AuditError

    _write(sdk, people=1)
    last = sdk.audit.entries()[-1]
    rehash_last(sdk, f'{{"seq":{last.seq},"subject":null,garbage', clear_subject=True)
    assert sdk.audit.verify().problem == AuditProblem.TAMPERED
    with pytest.raises(AuditError):
        sdk.audit.checkpoint()
    assert sdk.audit.latest_checkpoint() is None


def test_an_entry_rewritten_under_a_checkpoint_is_caught_without_decoding_it(
    sdk: DualId,
) -> None:
    _write(sdk)
    sdk.audit.checkpoint()
    last = sdk.audit.entries()[-1]
    rehash_last(sdk, last.body.replace('"action":"', '"action":"x', 1))
    report = sdk.audit.verify()
    assert (report.ok, report.problem, report.partition) == (
        False,
        AuditProblem.FORKED,
        last.partition,
    )
