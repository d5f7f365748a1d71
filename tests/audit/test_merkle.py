"""RFC 9162 Merkle hashing and proofs, against the published test vectors of
transparency-dev/merkle (bundled in vectors/) and as properties of any tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualid.audit._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
    verify_consistency_path,
    verify_inclusion_path,
)

VECTOR_FILE = Path(__file__).parent / "vectors" / "transparency_dev_merkle.json"
VECTORS = json.loads(VECTOR_FILE.read_text())
# The reference leaves of RFC 6962's test suite and the roots of every prefix of them.
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAVES = [leaf_hash(d) for d in LEAF_INPUTS]


def _b(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in case["proof"] or []]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_tree_heads_of_the_reference_leaves(size: int) -> None:
    assert root_of(LEAVES[:size]).hex() == ROOTS[size]
    compact = CompactRange()
    compact.extend(LEAVES[:size])
    assert compact.root().hex() == ROOTS[size]
    assert root_of([]) == EMPTY_ROOT


@pytest.mark.parametrize("name", sorted(VECTORS["inclusion"]))
def test_inclusion_vectors(name: str) -> None:
    case = VECTORS["inclusion"][name]
    ok = verify_inclusion_path(
        _b(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case), _b(case["root"])
    )
    assert ok is not case["wantErr"], case["desc"]
    ours = not case["wantErr"] and case["treeSize"] <= len(LEAVES) and case["leafHash"]
    if ours and _b(case["leafHash"]) == LEAVES[case["leafIdx"]]:
        # the proof we make for the same tree is byte for byte the published one
        made = inclusion_proof(LEAVES[: case["treeSize"]], case["leafIdx"])
        assert made == _proof(case)


@pytest.mark.parametrize("name", sorted(VECTORS["consistency"]))
def test_consistency_vectors(name: str) -> None:
    case = VECTORS["consistency"][name]
    ok = verify_consistency_path(
        case["size1"], case["size2"], _b(case["root1"]), _b(case["root2"]), _proof(case)
    )
    assert ok is not case["wantErr"], case["desc"]
    ours = not case["wantErr"] and case["size2"] <= len(LEAVES)
    if ours and _b(case["root2"]) == root_of(LEAVES[: case["size2"]]):
        assert consistency_proof(LEAVES[: case["size2"]], case["size1"]) == _proof(case)


def test_the_vectors_cover_every_proof_shape() -> None:
    happy = [c for c in VECTORS["inclusion"].values() if not c["wantErr"]]
    assert len(happy) >= 6
    assert sum(c["wantErr"] for c in VECTORS["consistency"].values()) >= 60


leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70).map(
    lambda data: [leaf_hash(d + bytes([i % 256])) for i, d in enumerate(data)]
)


@given(leaves=leaves_st, data=st.data())
def test_every_leaf_has_a_proof_that_verifies_and_only_for_it(
    leaves: list[bytes], data: st.DataObject
) -> None:
    n = len(leaves)
    root = root_of(leaves)
    index = data.draw(st.integers(0, n - 1))
    path = inclusion_proof(leaves, index)
    assert len(path) <= n.bit_length()
    assert verify_inclusion_path(leaves[index], index, n, path, root)
    other = data.draw(st.integers(0, n - 1))
    if leaves[other] != leaves[index]:
        assert not verify_inclusion_path(leaves[other], index, n, path, root)
    if path:
        k = data.draw(st.integers(0, len(path) - 1))
        bent = [*path[:k], bytes(32), *path[k + 1 :]]
        assert not verify_inclusion_path(leaves[index], index, n, bent, root)


@given(leaves=leaves_st, data=st.data())
def test_every_prefix_is_provably_consistent_and_a_rewritten_one_is_not(
    leaves: list[bytes], data: st.DataObject
) -> None:
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    old_root = root_of(leaves[:m])
    proof = consistency_proof(leaves, m)
    assert verify_consistency_path(m, n, old_root, root_of(leaves), proof)
    # a fork: the same sizes, one old leaf rewritten
    i = data.draw(st.integers(0, m - 1))
    forked = [*leaves[:i], leaf_hash(b"forged" + leaves[i]), *leaves[i + 1 :]]
    forged_proof = consistency_proof(forked, m)
    assert not verify_consistency_path(m, n, old_root, root_of(forked), forged_proof)


@given(leaves=leaves_st, cut=st.integers(0, 70))
def test_a_compact_range_resumes_where_it_stopped(leaves: list[bytes], cut: int) -> None:
    cut = min(cut, len(leaves))
    first = CompactRange()
    first.extend(leaves[:cut])
    resumed = CompactRange(first.size, first.nodes)
    resumed.extend(leaves[cut:])
    assert resumed.root() == root_of(leaves)
    with pytest.raises(ValueError):
        CompactRange(3, first.nodes[:1] if cut != 3 else ())
