"""Merkle tree hashing and proofs as RFC 9162 (Certificate Transparency v2, section 2.1)
defines them, over SHA-256: the tree head, inclusion proofs, consistency proofs and their
verification, plus a compact range that extends a tree head leaf by leaf.

Pure functions of bytes: no database, no clock. They are tested against the published
test vectors of ``transparency-dev/merkle`` (the Go implementation Trillian, Sigstore and
the C2SP witnesses use), so a proof made here verifies there and the other way round.

Leaves are hashed ``SHA-256(0x00 || data)`` and interior nodes ``SHA-256(0x01 || left ||
right)``, so a leaf can never be passed off as a node (second-preimage resistance); the
empty tree's head is ``SHA-256("")``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "Subtree",
    "consistency_path",
    "consistency_proof",
    "inclusion_path",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency_path",
    "verify_inclusion_path",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """``MTH({d}) = SHA-256(0x00 || d)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The tree head of leaves ``[0, size)`` kept as the roots of its perfect subtrees
    (at most one per bit of ``size``): appending a leaf costs amortised one node hash, and
    the head is the right-to-left fold of those roots. Checkpoints store it, so the next
    checkpoint hashes only the entries written since."""

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(nodes) != size.bit_count():
            raise ValueError("a compact range has one node per set bit of its size")
        self.size = size
        self._nodes = list(nodes)

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """The perfect subtrees' roots, largest (leftmost) first."""
        return tuple(self._nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at index ``size``."""
        node = leaf
        size = self.size
        while size & 1:  # each trailing one bit is a perfect subtree of that height to merge
            node = node_hash(self._nodes.pop(), node)
            size >>= 1
        self._nodes.append(node)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        head = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            head = node_hash(node, head)
        return head

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self._nodes)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The tree head ``MTH(D[n])`` over leaf hashes."""
    compact = CompactRange()
    compact.extend(leaves)
    return compact.root()


Subtree = Callable[[int, int], bytes]
"""``mth(lo, hi)``: the head of the tree over leaves ``[lo, hi)``, however it is obtained
(hashed from the leaves, or composed from stored subtree roots: :mod:`dualid.audit._tree`)."""


def _over(leaves: Sequence[bytes]) -> Subtree:
    return lambda lo, hi: root_of(leaves[lo:hi])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """``PATH(index, D[n])`` (RFC 9162 2.1.3.1) over the leaf hashes ``leaves``."""
    return inclusion_path(_over(leaves), len(leaves), index)


def inclusion_path(mth: Subtree, size: int, index: int) -> list[bytes]:
    """``PATH(index, D[size])`` with the subtree heads from ``mth``."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            path.append(mth(lo + k, hi))
            hi = lo + k
        else:
            path.append(mth(lo, lo + k))
            lo += k
    path.reverse()  # the recursion above walks down; the proof is read bottom up
    return path


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """``PROOF(m, D[n])`` (RFC 9162 2.1.4.1): that the tree of the first ``old_size`` leaf
    hashes is a prefix of the tree over all of ``leaves``. Empty when ``m`` is 0 or ``n``."""
    return consistency_path(_over(leaves), len(leaves), old_size)


def consistency_path(mth: Subtree, size: int, old_size: int) -> list[bytes]:
    """``PROOF(old_size, D[size])`` with the subtree heads from ``mth``."""
    n = size
    if not 0 <= old_size <= n:
        raise ValueError("old size outside the tree")
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, n, old_size, True
    while True:
        if m == hi - lo:
            if not complete:
                proof.append(mth(lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            proof.append(mth(lo + k, hi))
            hi = lo + k
        else:
            proof.append(mth(lo, lo + k))
            lo += k
            m -= k
            complete = False
    proof.reverse()
    return proof


def verify_inclusion_path(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``path`` prove the leaf hash ``leaf`` at ``index`` in the
    tree of ``size`` leaves whose head is ``root``?"""
    if not 0 <= index < size or len(leaf) != 32 or len(root) != 32:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the tree of ``old_size`` leaves with head
    ``old_root`` to be a prefix of the tree of ``new_size`` leaves with head ``new_root``?

    A proof from the empty tree proves nothing and is refused, as RFC 9162 and the
    reference implementation do: callers treat an empty old tree as trivially a prefix."""
    if old_size == new_size and old_size > 0:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or len(old_root) != 32 or len(new_root) != 32:
        return False
    if not proof or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: its head is a node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
