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
from ._merkle import CompactRange, consistency_proof, inclusion_proof

__all__ = ["build_checkpoint", "leaves", "prove_consistency", "prove_inclusion", "stored_ranges"]

_BATCH = 10_000


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


def build_checkpoint(
    conn: db.Conn,
    key: Ed25519PrivateKey,
    origin: str,
    reading: ClockReading,
    accepts: Callable[[Checkpoint], bool],
) -> tuple[Checkpoint, str]:
    """Sign a checkpoint of the log as ``conn`` (a read snapshot) sees it with ``key``; with
    the encoded compact ranges to store beside it. Only entries after the stored checkpoint
    (one ``accepts`` takes) are hashed."""
    heads = store.heads(conn)
    prior = stored_ranges(conn, accepts, origin)
    ranges: dict[int, CompactRange] = {}
    if prior is not None:
        ranges = {h.partition: r for h, r in zip(prior[0].partitions, prior[1], strict=True)}
    out: list[PartitionHead] = []
    compacts: list[CompactRange] = []
    for part, pseq, _, _ in heads:
        compact = ranges.get(part, CompactRange()).copy()
        if compact.size > pseq:  # the log is shorter than a checkpoint said: start over
            compact = CompactRange()
        compact.extend(leaves(conn, part, pseq, compact.size, signing=True))
        out.append(PartitionHead(part, compact.size, compact.root()))
        compacts.append(compact)
    checkpoint = sign_checkpoint(origin, out, reading.time, reading.uncertainty, key)
    return checkpoint, _encode_ranges(compacts)


def prove_inclusion(conn: db.Conn, seq: int, checkpoint: Checkpoint) -> InclusionProof:
    position = store.position_of(conn, seq)
    if position is None:
        raise InvalidInput("no audit entry has this sequence number", field="seq")
    part, pseq = position
    head = checkpoint.head(part)
    if pseq > head.size:
        raise InvalidInput("the checkpoint was signed before this entry", field="seq")
    path = inclusion_proof(leaves(conn, part, head.size), pseq - 1)
    return InclusionProof(seq, part, pseq - 1, head.size, tuple(path))


def prove_consistency(conn: db.Conn, old: Checkpoint, new: Checkpoint) -> ConsistencyProof:
    if len(old.partitions) != len(new.partitions) or old.size > new.size:
        raise InvalidInput("the first checkpoint must be an earlier one of the same log")
    paths: list[tuple[bytes, ...]] = []
    for before, after in zip(old.partitions, new.partitions, strict=True):
        if before.size > after.size:
            raise InvalidInput("the first checkpoint must be an earlier one of the same log")
        if 0 < before.size < after.size:
            tree = leaves(conn, before.partition, after.size)
            paths.append(tuple(consistency_proof(tree, before.size)))
    return ConsistencyProof(old.size, new.size, tuple(paths))
