"""The audit-log figures of issue 14 (checkpoints, verification against one, proofs) on a
SQLite file store of 1,000,000 entries (20,000 with ``--quick``), each against a raw
baseline measured in the same run.

``run(quick, only=None)`` returns rows (see ``bench/_harness.py``); run standalone with
``python -m bench.bench_audit [--quick]``. Figures (keys):

* ``audit_checkpoint``              the first ``audit.checkpoint()``, every entry hashed
* ``audit_checkpoint_incremental``  a checkpoint after 1,000 more entries
* ``audit_verify_checkpoint``       ``audit.verify(checkpoint=cp)``, entries/s
* ``audit_verify_deep``             ``audit.verify(deep=True)``, entries/s (skipped while the
  SDK has no ``deep``)
* ``audit_proof``                   ``verify_inclusion()`` of one entry, and the proof's size
* ``audit_proof_prove``             ``audit.prove()`` of one entry

The log is written by the SDK's append path, ``dualid.audit.append_many`` in the store's
write transactions: ``agent.created`` entries as ``identity.agents_for`` writes them (a
SQLite store has one partition); the entries added later come from ``identity.agents_for``
itself. The build time is reported in the notes, never counted. The baselines read the
entries' stored hashes and bodies with raw ``sqlite3``; to time the first checkpoint more
than once, the stored checkpoints are deleted with raw ``sqlite3`` before each repeat.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dualid.audit import append_many, verify_inclusion

if __package__ in (None, ""):  # python bench/bench_audit.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h
from bench.bench_core import _guard, _guard_many, _open, _raw_sqlite, _sqlite_file

KEYS = (
    "audit_checkpoint",
    "audit_checkpoint_incremental",
    "audit_verify_checkpoint",
    "audit_verify_checkpoint_chain",
    "audit_verify_deep",
    "audit_proof",
    "audit_proof_prove",
)
VERIFY_TARGET = ">= 200,000 entries/s"
DEEP_TARGET = ">= 50,000 entries/s"


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "entries": 20_000,
            "batch": 10_000,
            "more": 1_000,
            "checkpoint_repeats": 3,
            "incremental_repeats": 3,
            "verify_repeats": 3,
            "proofs": 5,
            "inclusion_calls": 200,
            "inclusion_repeats": 5,
        }
    return {
        "entries": 1_000_000,
        "batch": 10_000,
        "more": 1_000,
        "checkpoint_repeats": 3,
        "incremental_repeats": 5,
        "verify_repeats": 3,
        "proofs": 5,
        "inclusion_calls": 1_000,
        "inclusion_repeats": 7,
    }


def _size_name(n: int) -> str:
    return f"{n / 1e6:g} M" if n >= 1_000_000 else f"{n:,}"


# -- raw baselines: hashlib alone over values already in memory -------------------------------
def _tree_head(digests: Sequence[bytes]) -> bytes:
    """The RFC 9162 tree head over the leaves ``digests`` (each leaf ``SHA-256(0x00 || d)``,
    each node ``SHA-256(0x01 || left || right)``), level by level: a level's odd last node
    moves up unhashed, which gives the same head as RFC 9162's split at the largest power
    of two."""
    sha = hashlib.sha256
    return _fold([sha(b"\x00" + d).digest() for d in digests])


def _stored_digests(conn: sqlite3.Connection, after: int = 0) -> list[bytes]:
    """The 32-byte chain hashes of partition 0's entries after position ``after``, in order
    (a SQLite store has the one partition): what the Merkle leaves commit to."""
    rows = conn.execute(
        "SELECT entry_hash FROM dualid_audit WHERE part = 0 AND pseq > ? ORDER BY pseq", (after,)
    )
    return [bytes.fromhex(d) for (d,) in rows]


def _fold(nodes: Sequence[bytes]) -> bytes:
    """The head of a perfect-subtree run, level by level (as ``_tree_head`` without leaf
    hashing): what a proof does with the stored tile roots."""
    sha = hashlib.sha256
    level = list(nodes)
    while len(level) > 1:
        pairs = [
            sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) & 1:
            pairs.append(level[-1])
        level = pairs
    return level[0] if level else sha(b"").digest()


def _tiled_floor(conn: sqlite3.Connection, n: int, index: int) -> bytes:
    """The least a proof from tiles must do, with sqlite3 and hashlib alone: read the tile
    roots below ``n`` and the entry hashes of the leaf's own tile and the last partial one,
    and fold them once."""
    tiles = [
        bytes(r)
        for (r,) in conn.execute(
            "SELECT root FROM dualid_audit_tile WHERE part = 0 AND idx < ? ORDER BY idx",
            (n // 256,),
        )
    ]
    own = index - index % 256
    ends = [own, n - n % 256]
    for start in ends:
        _tree_head(
            [
                bytes.fromhex(d)
                for (d,) in conn.execute(
                    "SELECT entry_hash FROM dualid_audit WHERE part = 0 AND pseq > ?"
                    " ORDER BY pseq LIMIT 256",
                    (start,),
                )
            ]
        )
    return _fold(tiles)


def _chain_blobs(conn: sqlite3.Connection) -> list[bytes]:
    """``prev_hash || body`` of every entry, as bench_core's audit_verify baseline hashes."""
    rows = conn.execute("SELECT prev_hash, body FROM dualid_audit ORDER BY part, pseq")
    return [bytes.fromhex(prev) + body.encode() for prev, body in rows]


def _hash_chain(blobs: Sequence[bytes]) -> None:
    sha = hashlib.sha256
    for blob in blobs:
        sha(blob).hexdigest()


# -- the log ----------------------------------------------------------------------------------
class Log:
    """A store whose audit log holds ``n`` entries. They are appended by the SDK's own
    append path (``dualid.audit.append_many`` in a write transaction of the store, ``batch``
    entries each): ``agent.created`` entries of random agent ids, the very form
    ``identity.agents_for`` writes, without the agent rows (which take ~15 times longer to
    write and play no part in the log's figures). Later entries come from real
    ``identity.agents_for`` calls."""

    def __init__(self, work: Path, n: int, batch: int) -> None:
        self.sdk = _open(work / "audit.db")
        self.path = _sqlite_file(self.sdk)
        self.users = 0
        self.seconds, _ = h.timed(lambda: self._bulk(n, batch))
        self.raw = _raw_sqlite(self.path)

    def _bulk(self, n: int, batch: int) -> None:
        rt = self.sdk._rt  # the bench's only private use: the store's write transaction
        for lo in range(0, n, batch):
            entries: list[tuple[str, str | None, str | None, str | None, dict[str, Any]]] = [
                ("agent.created", "agt_" + secrets.token_hex(13), None, None, {})
                for _ in range(min(batch, n - lo))
            ]
            with rt.store.write() as conn:
                append_many(conn, rt.clock.now(), entries)

    def grow(self, n: int) -> None:
        """``n`` more entries: ``n`` new users in one ``identity.agents_for`` call."""
        users = [f"audit-user-{i:08d}" for i in range(self.users, self.users + n)]
        self.sdk.identity.agents_for(users)
        self.users += n

    def size(self) -> int:
        ((count,),) = self.raw.execute("SELECT count(*) FROM dualid_audit")
        return int(count)

    def forget_checkpoints(self) -> None:
        self.raw.execute("DELETE FROM dualid_audit_checkpoint")

    def close(self) -> None:
        self.raw.close()
        self.sdk.close()


def _alternate(
    sdk: Callable[[], object], raw: Callable[[], object], repeats: int, before: Callable[[], None]
) -> tuple[h.Timing, h.Timing, list[Any]]:
    """Seconds of single calls of ``sdk`` and ``raw``, alternating, ``before()`` untimed ahead
    of each SDK call; with the SDK's results."""
    a: list[float] = []
    b: list[float] = []
    results: list[Any] = []
    for _ in range(repeats):
        before()
        took, result = h.timed(sdk)
        a.append(took)
        results.append(result)
        b.append(h.timed(raw)[0])
    return h.Timing.of(a), h.Timing.of(b), results


def _info(row: h.Row) -> h.Row:
    """A row without a target (printed as ``info``)."""
    row["target"] = "-"
    row["met"] = None
    return row


def _timed_row(
    key: str, name: str, sdk: h.Timing, raw: h.Timing, scale: float, unit: str, **fields: Any
) -> h.Row:
    """An informational row of the SDK's timing against the raw one (both times ``scale``
    in ``unit``): best repeats, the ratio the slowdown, medians kept."""
    return _info(
        h.figure(
            key,
            name,
            value=sdk.best * scale,
            baseline=raw.best * scale,
            ratio=sdk.best / raw.best,
            unit=unit,
            target="-",
            kind=h.MAX_RATIO,
            threshold=0.0,
            value_median=round(sdk.median * scale, 3),
            baseline_median=round(raw.median * scale, 3),
            **fields,
        )
    )


# -- 1. checkpoints ----------------------------------------------------------------------------
def bench_checkpoint(log: Log, sz: dict[str, int]) -> h.Row:
    n = log.size()
    digests = _stored_digests(log.raw)
    a, b, made = _alternate(
        log.sdk.audit.checkpoint,
        lambda: _tree_head(digests),
        sz["checkpoint_repeats"],
        log.forget_checkpoints,
    )
    cp = made[-1]
    assert cp.size == n, cp
    assert len(cp.partitions) == 1, cp
    assert cp.root == _tree_head(digests), "the raw tree head must be the checkpoint's root"
    return _timed_row(
        "audit_checkpoint",
        f"audit.checkpoint() from scratch ({_size_name(n)} entries)",
        a,
        b,
        1000,
        "ms/checkpoint",
        baseline_desc=(
            f"the RFC 9162 tree head of the same {n:,} entry hashes with hashlib alone "
            "(leaf + node SHA-256), already in memory; the same root as the checkpoint's"
        ),
        note=(
            f"best of {sz['checkpoint_repeats']} (stored checkpoints deleted before each); "
            f"the SDK reads every entry from the file, hashes it into a compact range, "
            f"signs (Ed25519) and stores the note; checkpoint note {len(str(cp))} bytes"
        ),
        entries=n,
    )


def bench_incremental(log: Log, sz: dict[str, int]) -> h.Row:
    more = sz["more"]
    sizes: list[int] = []
    new: list[bytes] = []

    def add() -> None:
        before = log.size()
        log.grow(more)
        sizes.append(before)
        new[:] = _stored_digests(log.raw, before)
        assert len(new) == more

    if log.sdk.audit.latest_checkpoint() is None:
        log.sdk.audit.checkpoint()
    a, b, made = _alternate(
        log.sdk.audit.checkpoint, lambda: _tree_head(new), sz["incremental_repeats"], add
    )
    assert made[-1].size == log.size(), made[-1]
    return _timed_row(
        "audit_checkpoint_incremental",
        f"audit.checkpoint() after {more:,} more entries ({_size_name(sizes[0])} in the log)",
        a,
        b,
        1000,
        "ms/checkpoint",
        baseline_desc=(
            f"the RFC 9162 tree head of the {more:,} new entry hashes with hashlib alone, "
            "already in memory"
        ),
        note=(
            f"best of {sz['incremental_repeats']}, each after {more:,} new users "
            "(identity.agents_for, not counted); the SDK reads and checks the stored "
            "checkpoint (Ed25519 verify), reads the new entries, extends the stored "
            "compact range, signs and stores the note"
        ),
    )


# -- 2. verify against a checkpoint, and deep ---------------------------------------------------
def _verify_row(
    key: str, name: str, target: str, log: Log, sz: dict[str, int], call: Callable[[], Any]
) -> h.Row:
    report = call()
    assert report.ok, report
    entries = report.entries
    blobs = _chain_blobs(log.raw)
    assert len(blobs) == entries
    nbytes = sum(map(len, blobs))
    a, b, _ = _alternate(call, lambda: _hash_chain(blobs), sz["verify_repeats"], lambda: None)
    value, baseline = entries / a.best, entries / b.best
    return h.figure(
        key,
        f"{name} ({entries:,} entries)",
        value=value,
        baseline=baseline,
        ratio=value / baseline,
        unit="entries/s",
        target=target,
        kind=h.MIN_VALUE,
        threshold=float(target.split()[1].replace(",", "")),
        baseline_desc=(
            f"SHA-256 (hexdigest) of the same prev_hash||body bytes ({nbytes / 2**20:.1f} MiB), "
            "already in memory (as audit_verify)"
        ),
        note=f"best of {sz['verify_repeats']}: {a.best:.2f} s",
        value_median=round(entries / a.median, 1),
        baseline_median=round(entries / b.median, 1),
    )


def bench_verify_checkpoint(log: Log, sz: dict[str, int]) -> h.Row:
    cp = log.sdk.audit.latest_checkpoint()
    assert cp is not None
    assert cp.size == log.size(), cp
    row = _verify_row(
        "audit_verify_checkpoint",
        "audit.verify(checkpoint=cp)",
        VERIFY_TARGET,
        log,
        sz,
        lambda: log.sdk.audit.verify(checkpoint=cp),
    )
    row["note"] += "; walks the chain and recomputes the Merkle root up to the checkpoint's size"
    return row


def bench_verify_chain(log: Log, sz: dict[str, int]) -> h.Row:
    """The same walk before any checkpoint is stored: the hash chains alone, no Merkle
    tree (what ``audit_verify`` measures on a smaller log)."""
    log.forget_checkpoints()
    row = _verify_row(
        "audit_verify_checkpoint_chain",
        "audit.verify() before any checkpoint (chains only)",
        VERIFY_TARGET,
        log,
        sz,
        log.sdk.audit.verify,
    )
    row["note"] += "; with no checkpoint stored there is no Merkle root to recompute"
    return _info(row)


def _has_deep(log: Log) -> bool:
    return "deep" in inspect.signature(log.sdk.audit.verify).parameters


def bench_verify_deep(log: Log, sz: dict[str, int]) -> h.Row:
    row = _verify_row(
        "audit_verify_deep",
        "audit.verify(deep=True)",
        DEEP_TARGET,
        log,
        sz,
        lambda: log.sdk.audit.verify(**{"deep": True}),
    )
    row["note"] += "; the log holds agent.created entries only (no consent rows to replay)"
    return row


# -- 3. proofs ---------------------------------------------------------------------------------
def bench_proofs(log: Log, sz: dict[str, int], want: set[str]) -> list[h.Row]:
    audit = log.sdk.audit
    cp = audit.latest_checkpoint() or audit.checkpoint()
    n = cp.size
    # The first, middle and last entries, and random ones (the path length varies a little).
    seqs = sorted({1, n // 2, n} | set(random.Random(14).sample(range(2, n), sz["proofs"] - 3)))
    timings: list[float] = []
    proofs = []
    for seq in seqs:
        took, proof = h.timed(lambda seq=seq: audit.prove(seq, cp))
        timings.append(took)
        proofs.append(proof)
    entries = [audit.entries(after=seq - 1, limit=1)[0] for seq in seqs]
    assert [e.seq for e in entries] == seqs
    pem = audit.public_key()
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    assert all(verify_inclusion(e, p, cp, key) for e, p in zip(entries, proofs, strict=True))
    rows: list[h.Row] = []
    hashes = [len(p.path) for p in proofs]
    json_sizes = [len(json.dumps(p.to_dict(), separators=(",", ":"))) for p in proofs]
    if "audit_proof" in want:
        pairs = list(zip(entries, proofs, strict=True))
        signature, body = cp.signatures[0][2], cp.body.encode()
        i = 0

        def sdk_op() -> None:
            nonlocal i
            entry, proof = pairs[i % len(pairs)]
            i += 1
            verify_inclusion(entry, proof, cp, key)

        def raw_op() -> None:
            key.verify(signature, body)

        a, b = h.compare(
            sdk_op, raw_op, number=sz["inclusion_calls"], repeats=sz["inclusion_repeats"]
        )
        entry, proof = pairs[0]
        with_pem = h.per_call(
            lambda: verify_inclusion(entry, proof, cp, pem),
            number=sz["inclusion_calls"],
            repeats=3,
        )
        rows.append(
            _timed_row(
                "audit_proof",
                f"verify_inclusion() of one entry, log of {_size_name(n)} entries",
                a,
                b,
                1 / 1000,
                "us/call",
                baseline_desc=(
                    "one Ed25519 verify of the checkpoint's signed text (cryptography), "
                    "the key loaded once"
                ),
                note=(
                    f"proof: {min(hashes)}-{max(hashes)} hashes ({32 * max(hashes)} bytes), "
                    f"{max(json_sizes)} bytes as compact JSON (to_dict); checkpoint note "
                    f"{len(str(cp))} bytes; the key passed as an Ed25519PublicKey (as PEM "
                    f"text, parsed per call: {with_pem.best / 1000:.1f} us/call)"
                ),
                proof_hashes=max(hashes),
                proof_bytes=32 * max(hashes),
                proof_json_bytes=max(json_sizes),
                checkpoint_bytes=len(str(cp)),
                with_pem_us=round(with_pem.best / 1000, 2),
            )
        )
    if "audit_proof_prove" in want:
        middle = n // 2
        raw = h.best_of(lambda: _tiled_floor(log.raw, n, middle), 5)
        rows.append(
            _timed_row(
                "audit_proof_prove",
                f"audit.prove() of one entry, log of {_size_name(n)} entries",
                h.Timing.of(timings),
                raw,
                1000,
                "ms/proof",
                baseline_desc=(
                    f"the reads and hashing a proof from tiles needs, with sqlite3 and hashlib "
                    f"alone: the {n // 256:,} tile roots of the partition, the entry hashes "
                    "of two tiles, one fold"
                ),
                note=(
                    f"best of {len(seqs)} proofs (seq {', '.join(map(str, seqs))}); prove() "
                    "composes the sibling roots from the stored tiles (dualid_audit_tile, "
                    "written by checkpoints), reads at most two tiles of entry hashes, and "
                    "checks the path against the signed root"
                ),
            )
        )
    return rows


# -- entry point -------------------------------------------------------------------------------
def run(quick: bool, only: set[str] | None = None) -> list[h.Row]:
    sz = _sizes(quick)
    want = set(KEYS) if only is None else set(only) & set(KEYS)
    if not want:
        return []
    rows: list[h.Row] = []
    log_line = _Progress()
    with h.workdir() as work:
        log_line(f"writing a log of {sz['entries']:,} entries (audit.append_many)")
        log = Log(work, sz["entries"], sz["batch"])
        built = log.seconds
        log_line(f"  ... {built:.1f} s")
        try:
            if want & {"audit_verify_checkpoint", "audit_verify_checkpoint_chain"}:
                log_line("audit.verify() before any checkpoint")
                rows.append(
                    _guard(
                        "audit_verify_checkpoint_chain",
                        "audit.verify() before any checkpoint",
                        "-",
                        lambda: bench_verify_chain(log, sz),
                    )
                )
            if "audit_checkpoint" in want:
                log_line("audit.checkpoint() from scratch")
                rows.append(
                    _guard(
                        "audit_checkpoint",
                        "audit.checkpoint() from scratch",
                        "-",
                        lambda: bench_checkpoint(log, sz),
                    )
                )
            if want & {"audit_checkpoint_incremental", "audit_verify_checkpoint"}:
                log_line(f"audit.checkpoint() after {sz['more']:,} more entries")
                row = _guard(
                    "audit_checkpoint_incremental",
                    "audit.checkpoint() incremental",
                    "-",
                    lambda: bench_incremental(log, sz),
                )
                if "audit_checkpoint_incremental" in want:
                    rows.append(row)
            if "audit_verify_checkpoint" in want:
                log_line("audit.verify(checkpoint=cp)")
                rows.append(
                    _guard(
                        "audit_verify_checkpoint",
                        "audit.verify(checkpoint=cp)",
                        VERIFY_TARGET,
                        lambda: bench_verify_checkpoint(log, sz),
                    )
                )
            if "audit_verify_deep" in want:
                if _has_deep(log):
                    log_line("audit.verify(deep=True)")
                    rows.append(
                        _guard(
                            "audit_verify_deep",
                            "audit.verify(deep=True)",
                            DEEP_TARGET,
                            lambda: bench_verify_deep(log, sz),
                        )
                    )
                else:
                    rows.append(
                        h.skipped(
                            "audit_verify_deep",
                            "audit.verify(deep=True)",
                            DEEP_TARGET,
                            "skipped: audit.verify() has no deep parameter in this checkout",
                        )
                    )
            if want & {"audit_proof", "audit_proof_prove"}:
                log_line("audit.prove() and verify_inclusion()")
                key = "audit_proof" if "audit_proof" in want else "audit_proof_prove"
                rows += _guard_many(key, key, "-", lambda: bench_proofs(log, sz, want))
        finally:
            log.close()
    for row in rows:
        if not row.get("skipped"):
            row["note"] = (row.get("note") or "") + f"; log built in {built:.1f} s, not counted"
    order = {k: i for i, k in enumerate(KEYS)}
    rows.sort(key=lambda r: order.get(r["key"], 99))
    return rows


class _Progress:
    """Progress lines on stderr, with the seconds since the suite started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, msg: str) -> None:
        took = time.perf_counter() - self.start
        print(f"  [audit {took:6.1f}s] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv[1:])
    print(h.table(result))
