"""Proofs from stored tiles (migration 0012): a checkpoint keeps the Merkle head of every
complete run of 256 leaves, and a proof composes its subtree heads from them, reading the
entry hashes of at most two partial tiles instead of the whole partition. Tiles are a cache
the proofs check against the signed root: an edited or deleted tile changes no proof."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualid import DualId, audit
from dualid.audit import verify_consistency, verify_inclusion
from dualid.audit._merkle import consistency_proof, inclusion_proof, leaf_hash, root_of
from dualid.audit._tree import TILE
from dualid.store import _audit as store_audit
from dualid.testing import FakeClock

from ..support import execute, rows


def _append(sdk: DualId, count: int, subject: str = "ag_tiles") -> None:
    """``count`` entries of one subject (so one partition on every backend)."""
    with sdk._rt.write() as tx:  # the log's own append, without a consent write around it
        audit.append_many(
            tx.conn, tx.now, [("test.entry", subject, None, None, {"i": i}) for i in range(count)]
        )


def _partition(sdk: DualId, subject: str = "ag_tiles") -> tuple[int, list[str]]:
    """The partition of ``subject``'s entries and that partition's entry hashes in order."""
    (first,) = [e for e in sdk.audit.entries(subject=subject, limit=1)]
    found = rows(
        sdk,
        "SELECT entry_hash FROM dualid_audit WHERE part = :p ORDER BY pseq",
        p=first.partition,
    )
    return first.partition, [r.entry_hash for r in found]


def _leaves(hashes: list[str]) -> list[bytes]:
    return [leaf_hash(bytes.fromhex(h)) for h in hashes]


@pytest.fixture
def big(sdk: DualId) -> DualId:
    _append(sdk, 2 * TILE + 77)
    return sdk


def test_a_checkpoint_keeps_the_head_of_every_complete_tile(big: DualId) -> None:
    big.audit.checkpoint()
    part, hashes = _partition(big)
    leaves = _leaves(hashes)
    stored = rows(big, "SELECT idx, root FROM dualid_audit_tile WHERE part = :p", p=part)
    complete = len(leaves) // TILE
    assert complete >= 2
    assert sorted(r.idx for r in stored) == list(range(complete))
    for r in stored:
        assert bytes(r.root) == root_of(leaves[r.idx * TILE : (r.idx + 1) * TILE])


def test_a_tile_begun_before_the_last_checkpoint_is_completed_by_the_next(sdk: DualId) -> None:
    _append(sdk, TILE + 40)
    sdk.audit.checkpoint()
    _append(sdk, TILE)  # completes tile 1, which the first checkpoint held only in part
    sdk.audit.checkpoint()
    part, hashes = _partition(sdk)
    leaves = _leaves(hashes)
    stored = rows(sdk, "SELECT idx, root FROM dualid_audit_tile WHERE part = :p", p=part)
    assert {r.idx: bytes(r.root) for r in stored} == {
        i: root_of(leaves[i * TILE : (i + 1) * TILE]) for i in range(len(leaves) // TILE)
    }


def _some_seqs(sdk: DualId) -> list[int]:
    seqs = [e.seq for e in sdk.audit.entries(subject="ag_tiles")]
    picks = {0, 1, TILE - 1, TILE, TILE + 1, 2 * TILE - 1, 2 * TILE, len(seqs) - 1}
    return [seqs[i] for i in sorted(picks) if i < len(seqs)]


def test_proofs_from_tiles_are_the_rfc9162_proofs_and_verify(big: DualId) -> None:
    cp = big.audit.checkpoint()
    _, hashes = _partition(big)
    leaves = _leaves(hashes)
    for seq in _some_seqs(big):
        proof = big.audit.prove(seq, cp)
        assert list(proof.path) == inclusion_proof(leaves, proof.index)
        (entry,) = big.audit.entries(after=seq - 1, limit=1)
        assert verify_inclusion(entry, proof, cp, big.audit.public_key())


def test_a_proof_reads_two_tiles_of_hashes_not_the_partition(
    big: DualId, monkeypatch: pytest.MonkeyPatch
) -> None:
    _append(big, 6 * TILE)  # a partition of 8+ tiles
    cp = big.audit.checkpoint()
    read: list[int] = []
    real = store_audit.partition_hashes

    def counting(conn: object, part: int, after: int, limit: int) -> list[tuple[int, str]]:
        got = real(conn, part, after, limit)  # type: ignore[arg-type]
        read.append(len(got))
        return got

    monkeypatch.setattr(store_audit, "partition_hashes", counting)
    for seq in _some_seqs(big):
        read.clear()
        proof = big.audit.prove(seq, cp)
        assert proof.tree_size > 8 * TILE
        assert sum(read) <= 2 * TILE + 1, (seq, sum(read))


@pytest.mark.parametrize("edit", ["change", "delete"])
def test_an_edited_or_missing_tile_changes_no_proof(big: DualId, edit: str) -> None:
    cp = big.audit.checkpoint()
    part, hashes = _partition(big)
    leaves = _leaves(hashes)
    if edit == "change":
        execute(big, "UPDATE dualid_audit_tile SET root = :r WHERE idx = 0", r=bytes(32))
    else:
        execute(big, "DELETE FROM dualid_audit_tile")
    for seq in _some_seqs(big):
        proof = big.audit.prove(seq, cp)
        assert list(proof.path) == inclusion_proof(leaves, proof.index)
    assert part == proof.partition


def test_consistency_proofs_from_tiles_verify(sdk: DualId) -> None:
    _append(sdk, TILE + 3)
    old = sdk.audit.checkpoint()
    _append(sdk, 2 * TILE + 9)
    new = sdk.audit.checkpoint()
    execute(sdk, "UPDATE dualid_audit_tile SET root = :r WHERE idx = 1", r=bytes(32))
    proof = sdk.audit.prove_consistency(old, new)
    assert verify_consistency(old, new, proof, sdk.audit.public_key())
    part, hashes = _partition(sdk)
    before = old.head(part).size
    # only this subject's partition grew between the two, so its path is the only one
    assert [list(p) for p in proof.paths] == [consistency_proof(_leaves(hashes), before)]


def test_a_store_upgraded_without_tiles_gets_them_from_its_next_checkpoint(
    tmp_path: Path, master_key: str, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    with DualId.open(url, keys=master_key, clock=clock) as sdk:
        _append(sdk, 3 * TILE)
        cp = sdk.audit.checkpoint()
        execute(sdk, "DELETE FROM dualid_audit_tile")  # as a store from before 0012 has none
        _append(sdk, 5)
        sdk.audit.checkpoint()
        assert len(rows(sdk, "SELECT idx FROM dualid_audit_tile")) == 3
        seq = sdk.audit.entries(limit=1)[0].seq
        (entry,) = sdk.audit.entries(limit=1)
        assert verify_inclusion(entry, sdk.audit.prove(seq, cp), cp, sdk.audit.public_key())
