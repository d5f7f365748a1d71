"""The log's Merkle trees as the database holds them: checkpoints built incrementally from
the stored compact ranges, and proofs read from the partitions' entry hashes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dualid.clock import ClockReading
from dualid.errors import AuditError, CorruptRow, InvalidInput
from dualid.store import _audit as store
from dualid.store import _sql as db

from ._chain import entry_leaf, readable
from ._checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    PartitionHead,
    sign_checkpoint,
)
from ._merkle import (
    CompactRange,
    consistency_path,
    consistency_proof,
    inclusion_path,
    inclusion_proof,
    root_of,
    verify_consistency_path,
    verify_inclusion_path,
)

__all__ = [
    "TILE",
    "Subtrees",
    "build_checkpoint",
    "leaves",
    "prove_consistency",
    "prove_inclusion",
    "stored_ranges",
]

_BATCH = 10_000
TILE = 256
"""Leaves per stored tile (``dualid_audit_tile``): a power of two, so a run of whole tiles
starting at a tile boundary is a run of perfect subtrees at the leaf level too."""


def leaves(
    conn: db.Conn, part: int, upto: int, start: int = 0, *, signing: bool = False
) -> list[bytes]:
    """The Merkle leaf hashes of partition ``part``'s entries at positions ``start + 1``
    to ``upto``. ``signing``: also require every body to read back, since ``verify()``
    does not decode again the entries a valid checkpoint covers."""
    out: list[bytes] = []
    after = start
    while after < upto:
        limit = min(_BATCH, upto - after)
        if signing:
            rows = store.partition_rows(conn, part, after, limit)
            if not all(readable(row[4]) for row in rows):
                raise AuditError(
                    "an audit entry cannot be read back; no checkpoint is signed over it "
                    "(run `dualid audit verify`)",
                    table="dualid_audit",
                )
            hashes = [(row[2], row[6]) for row in rows]
        else:  # proofs need the hashes only, not the bodies
            hashes = store.partition_hashes(conn, part, after, limit)
        if not hashes:
            break
        out.extend(entry_leaf(entry_hash) for _, entry_hash in hashes)
        after = hashes[-1][0]
    return out


def _encode_ranges(ranges: Sequence[CompactRange]) -> str:
    return json.dumps(
        [[r.size, [base64.b64encode(n).decode() for n in r.nodes]] for r in ranges],
        separators=(",", ":"),
    )


def stored_ranges(
    conn: db.Conn, accepts: Callable[[Checkpoint], bool], origin: str
) -> tuple[Checkpoint, list[CompactRange]] | None:
    """The newest stored checkpoint and its compact ranges, if its note is this log's,
    validly signed (``accepts``: by one of the log's keys, while it was in use), and its
    ranges give exactly its partition roots (anything else is ignored: the next
    checkpoint is then built from the entries themselves)."""
    try:
        found = store.latest_checkpoint(conn)
    except CorruptRow:  # a row written outside dualid: not one of its checkpoints
        return None
    if found is None:
        return None
    _, note, encoded = found
    try:
        checkpoint = Checkpoint.parse(note)
        ranges = [
            CompactRange(size, [base64.b64decode(n) for n in nodes])
            for size, nodes in json.loads(encoded)
        ]
    except (InvalidInput, ValueError, TypeError):
        return None
    if checkpoint.origin != origin or not accepts(checkpoint):
        return None
    if len(ranges) != len(checkpoint.partitions) or any(
        r.size != h.size or r.root() != h.root
        for r, h in zip(ranges, checkpoint.partitions, strict=True)
    ):
        return None
    return checkpoint, ranges


def _new_tiles(
    conn: db.Conn, part: int, start: int, fresh: Sequence[bytes], size: int
) -> list[tuple[int, int, bytes]]:
    """The ``(part, idx, root)`` tiles of partition ``part`` that are complete at ``size``
    leaves and not stored yet; ``fresh`` are its leaves from ``start`` on (read anyway)."""
    first, last = store.tile_count(conn, part), size // TILE
    if first >= last:
        return []
    lo = first * TILE
    if lo >= start:
        run = fresh[lo - start : last * TILE - start]
    else:  # tiles begun before the stored range: read their leaves once more
        run = leaves(conn, part, last * TILE, lo)
    return [(part, first + i, root_of(run[i * TILE : (i + 1) * TILE])) for i in range(last - first)]


def build_checkpoint(
    conn: db.Conn,
    key: Ed25519PrivateKey,
    origin: str,
    reading: ClockReading,
    accepts: Callable[[Checkpoint], bool],
) -> tuple[Checkpoint, str, list[tuple[int, int, bytes]]]:
    """Sign a checkpoint of the log as ``conn`` (a read snapshot) sees it with ``key``; with
    the encoded compact ranges and the new tiles to store beside it. Only entries after the
    stored checkpoint (one ``accepts`` takes) are hashed."""
    heads = store.heads(conn)
    prior = stored_ranges(conn, accepts, origin)
    ranges: dict[int, CompactRange] = {}
    if prior is not None:
        ranges = {h.partition: r for h, r in zip(prior[0].partitions, prior[1], strict=True)}
    out: list[PartitionHead] = []
    compacts: list[CompactRange] = []
    tiles: list[tuple[int, int, bytes]] = []
    for part, pseq, _, _ in heads:
        compact = ranges.get(part, CompactRange()).copy()
        if compact.size > pseq:  # the log is shorter than a checkpoint said: start over
            compact = CompactRange()
        start = compact.size
        fresh = leaves(conn, part, pseq, start, signing=True)
        compact.extend(fresh)
        tiles.extend(_new_tiles(conn, part, start, fresh, compact.size))
        out.append(PartitionHead(part, compact.size, compact.root()))
        compacts.append(compact)
    checkpoint = sign_checkpoint(origin, out, reading.time, reading.uncertainty, key)
    return checkpoint, _encode_ranges(compacts), tiles


class Subtrees:
    """``mth(lo, hi)`` over the first ``size`` leaves of partition ``part``, composed from
    its stored tiles where whole tiles are asked for, else hashed from the entry hashes.
    Missing tiles are hashed from one read of the leaves they cover. Nothing here is
    trusted: callers check what they build against a signed root."""

    def __init__(self, conn: db.Conn, part: int, size: int) -> None:
        self._conn, self._part = conn, part
        wanted = size // TILE
        found = dict(store.tiles(conn, part, wanted))
        missing = [i for i in range(wanted) if i not in found]
        if missing:
            lo, hi = missing[0], missing[-1] + 1
            run = leaves(conn, part, hi * TILE, lo * TILE)
            for i in missing:
                found[i] = root_of(run[(i - lo) * TILE : (i - lo + 1) * TILE])
        self._tiles = [found[i] for i in range(wanted)]

    def _leaves(self, lo: int, hi: int) -> list[bytes]:
        return leaves(self._conn, self._part, hi, lo)

    def __call__(self, lo: int, hi: int) -> bytes:
        whole = (hi - lo) // TILE
        if lo % TILE or not whole:
            return root_of(self._leaves(lo, hi))
        first = lo // TILE
        over_tiles = CompactRange()
        over_tiles.extend(self._tiles[first : first + whole])
        # Whole tiles from a tile boundary are perfect subtrees of the leaf-level tree too.
        head = CompactRange(whole * TILE, over_tiles.nodes)
        head.extend(self._leaves(lo + whole * TILE, hi))
        return head.root()


def prove_inclusion(conn: db.Conn, seq: int, checkpoint: Checkpoint) -> InclusionProof:
    """The proof that entry ``seq`` is in ``checkpoint``'s tree of its partition, built
    from tiles and checked against the checkpoint's root; a tile that does not match makes
    it read every entry hash instead."""
    position = store.position_of(conn, seq)
    if position is None:
        raise InvalidInput("no audit entry has this sequence number", field="seq")
    part, pseq = position
    head = checkpoint.head(part)
    if pseq > head.size:
        raise InvalidInput("the checkpoint was signed before this entry", field="seq")
    if pseq < 1:
        raise _not_held()
    index = pseq - 1
    path = inclusion_path(Subtrees(conn, part, head.size), head.size, index)
    leaf = leaves(conn, part, pseq, index)
    if len(leaf) != 1 or not verify_inclusion_path(leaf[0], index, head.size, path, head.root):
        path = inclusion_proof(_all_leaves(conn, part, head.size), index)
    return InclusionProof(seq, part, index, head.size, tuple(path))


def _not_held() -> AuditError:
    return AuditError(
        "the log no longer holds the entries this checkpoint covers (run `dualid audit "
        "verify --checkpoint`)",
        table="dualid_audit",
    )


def _all_leaves(conn: db.Conn, part: int, size: int) -> list[bytes]:
    """Every leaf of partition ``part`` up to ``size``; AuditError when the log holds
    fewer than a checkpoint of that size committed to."""
    found = leaves(conn, part, size)
    if len(found) != size:
        raise _not_held()
    return found


def prove_consistency(conn: db.Conn, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
    if len(old.partitions) != len(new.partitions) or old.size > new.size:
        raise InvalidInput("the first checkpoint must be an earlier one of the same log")
    paths: list[tuple[bytes, ...]] = []
    for before, after in zip(old.partitions, new.partitions, strict=True):
        if before.size > after.size:
            raise InvalidInput("the first checkpoint must be an earlier one of the same log")
        if 0 < before.size < after.size:
            part = before.partition
            path = consistency_path(Subtrees(conn, part, after.size), after.size, before.size)
            if not verify_consistency_path(before.size, after.size, before.root, after.root, path):
                path = consistency_proof(_all_leaves(conn, part, after.size), before.size)
            paths.append(tuple(path))
    return ConsistencyProof(old.size, new.size, tuple(paths))
