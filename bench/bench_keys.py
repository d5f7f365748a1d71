"""Derived-key rotation figures (issue 16, item 6) on a SQLite file store, each against a
raw baseline in the same run. ``run(quick)`` returns rows (``bench/_harness.py``); run
standalone with ``python -m bench.bench_keys [--quick]``. Figures (keys, informational):

* ``index_rotation``        ``keys.rotate_index()``: agents re-indexed per second
* ``agent_for_rotating``    ``identity.agent_for()`` warm while a rotation runs (a lookup
                            tries the old key and the new one) against the same call when
                            none runs

The dataset is built through the public API; only the baseline reads private values (the
unwrapped data keys, the new blind-index key) to do the same work with raw sqlite3 +
AES-GCM + HMAC.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # python bench/bench_keys.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench import _harness as h
from bench.bench_core import _aad, _deks, _open, _raw_sqlite, _sqlite_file
from dualid import DualId
from dualid.crypto._generations import BLIND_INDEX, generation_key, secret_name

KEYS = ("index_rotation", "agent_for_rotating")


class Stop(Exception):
    pass


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"agents": 5_000, "batch": 500, "warm_calls": 1_000, "warm_repeats": 5}
    return {"agents": 50_000, "batch": 500, "warm_calls": 5_000, "warm_repeats": 7}


def _info(row: h.Row) -> h.Row:
    row["target"] = "-"
    row["met"] = None
    return row


def _raw_reindex(path: Path, deks: dict[str, AESGCM], key: bytes, batch: int) -> float:
    """Seconds to do what a rotation does per agent, in raw form on a copy of the same
    rows: read the sealed userIds of ``batch`` agents, AES-GCM-decrypt each (the data keys
    already unwrapped), HMAC-SHA256 it under the new key and UPDATE the agent row, one
    transaction per batch."""
    conn = _raw_sqlite(path)
    agents = sorted(deks)

    def work() -> None:
        for lo in range(0, len(agents), batch):
            chunk = agents[lo : lo + batch]
            conn.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(chunk))
            found = conn.execute(
                f"SELECT agent_id, dek_version, ciphertext FROM dualid_sealed"
                f" WHERE record_id IN ({marks}) AND field = 'user_id'",
                ["u:" + a for a in chunk],
            ).fetchall()
            updates = []
            for agent_id, version, blob in found:
                aad = _aad(agent_id, "u:" + agent_id, "user_id", version)
                raw = deks[agent_id].decrypt(blob[1:13], blob[13:], aad)  # b"s" + UTF-8 text
                updates.append((hmac.new(key, raw[1:], hashlib.sha256).digest(), agent_id))
            conn.executemany("UPDATE dualid_agent SET user_index = ? WHERE agent_id = ?", updates)
            conn.execute("COMMIT")  # the very values the SDK wrote: same key, same userIds

    seconds, _ = h.timed(work)
    conn.close()
    return seconds


def bench_rotation(work: Path, sz: dict[str, int]) -> tuple[h.Row, h.Row]:
    n = sz["agents"]
    users = [f"rot-user-{i:07d}" for i in range(n)]
    sdk, rotating = _open(work / "keys.db"), _open(work / "rotating.db")
    try:
        mapping = sdk.identity.agents_for(users)
        rotating.identity.agents_for(users)
        with contextlib.suppress(Stop):  # a rotation interrupted after its first batch
            rotating.keys.rotate_index(batch=sz["batch"], progress=_stop)
        assert rotating.keys.status().index.rotating
        warm = _warm_pair(sdk, rotating, users, sz)

        deks = _deks(sdk, mapping.values())  # baseline only
        seconds, report = h.timed(lambda: sdk.keys.rotate_index(batch=sz["batch"]))
        assert report.reindexed == n, report
        raw_key = _key_of(sdk, report.generation)
        raw = min(_raw_reindex(_sqlite_file(sdk), deks, raw_key, sz["batch"]) for _ in range(2))
        assert sdk.identity.lookup(users[0]) == mapping[users[0]]  # the raw run changed nothing
        rotation = _info(
            h.figure(
                "index_rotation",
                f"keys.rotate_index() of {n:,} agents (batch {sz['batch']})",
                value=n / seconds,
                baseline=n / raw,
                ratio=raw / seconds,
                unit="agents/s",
                target="-",
                kind=h.MIN_RATIO,
                threshold=0.0,
                baseline_desc=(
                    "per batch of the same size, raw sqlite3: SELECT the sealed userIds, "
                    "AES-GCM decrypt with the data keys already unwrapped, HMAC-SHA256 under "
                    "the new key, executemany UPDATE (best of 2)"
                ),
                note=(
                    f"one rotation: {seconds:.1f} s, {len(range(0, n, sz['batch']))} "
                    "transactions; the SDK also unwraps each data key (LocalKeyProvider, "
                    "AES-GCM), checks every row's shape and writes one audit entry per batch"
                ),
            )
        )
        return rotation, warm
    finally:
        sdk.close()
        rotating.close()


def _stop(done: int, total: int) -> None:
    raise Stop


def _key_of(sdk: DualId, generation: int) -> bytes:
    """The raw blind-index key of ``generation`` (baseline only)."""
    secret = sdk._rt.keyring._secrets[secret_name(BLIND_INDEX, generation)]
    return generation_key(secret, BLIND_INDEX, generation)


def _warm_pair(idle: DualId, rotating: DualId, users: list[str], sz: dict[str, int]) -> h.Row:
    """agent_for() warm on a store during a rotation against the same calls on a store of
    the same agents where none runs, interleaved."""
    step = max(1, len(users) // sz["warm_calls"])
    sample = users[::step][: sz["warm_calls"]]

    def calls(sdk: DualId) -> Callable[[], object]:
        it, agent_for = itertools.cycle(sample), sdk.identity.agent_for
        return lambda: agent_for(next(it))

    a, b = h.compare(calls(rotating), calls(idle), number=len(sample), repeats=sz["warm_repeats"])
    return _info(
        h.figure(
            "agent_for_rotating",
            f"identity.agent_for() warm during an index rotation ({len(users):,} agents)",
            value=a.best / 1000,
            baseline=b.best / 1000,
            ratio=a.best / b.best,
            unit="us/call",
            target="-",
            kind=h.MAX_RATIO,
            threshold=0.0,
            baseline_desc="the same calls on a store of the same agents where no rotation runs",
            note=(
                "two HMACs and one IN (new, old) lookup instead of one HMAC and an equality "
                "lookup, until the rotation finishes"
            ),
            value_median=round(a.median / 1000, 2),
            baseline_median=round(b.median / 1000, 2),
        )
    )


def run(quick: bool) -> list[h.Row]:
    sz = _sizes(quick)
    with h.workdir() as work:
        rotation, warm = bench_rotation(work, sz)
    return [rotation, warm]


if __name__ == "__main__":
    print(h.table(run(quick="--quick" in sys.argv[1:])))
