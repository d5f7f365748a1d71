"""Benchmark: ``dualid migrate-ids`` throughput against a raw sqlite3 ``executemany``.

The target is a SQLite table ``bookings(id INTEGER PRIMARY KEY, user_id TEXT, note TEXT)``
with 100,000 rows (20,000 with ``quick``) for a quarter as many users. The baseline, measured
in the same run on an identical copy of the table, is the fastest hand-written version of the
same change: one ``executemany("UPDATE bookings SET agent_id = ? WHERE id = ?")`` over every
row in a single transaction, with the agentIds already known (a dict lookup).

Figures (rows per second):

* ``migrate_ids`` - agents already exist (a second table, or users onboarded before), batch
  5,000 rows per transaction, best of 3 runs against the best of 3 baseline runs. Target: at
  least 0.25x the baseline.
* ``migrate_ids_batch_500`` - the same with the default batch of 500 (more commits).
* ``migrate_ids_creating_agents`` - first adoption: every agent is created during the run
  (a data key, a sealed userId and an audit entry per person), batch 5,000. No target:
  informational.

Run: ``python bench/bench_migrate_ids.py [--quick]``.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dualid import DualId, generate_master_key
from dualid.tools.migrate_ids import migrate_ids

TARGET_RATIO = 0.25


def _make_table(path: Path, rows: int, users: int) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE bookings (id INTEGER PRIMARY KEY, user_id TEXT, note TEXT)")
    con.executemany(
        "INSERT INTO bookings (user_id, note) VALUES (?, 'note')",
        ((f"user-{i % users:07d}",) for i in range(rows)),
    )
    con.execute("ALTER TABLE bookings ADD COLUMN agent_id VARCHAR(40)")
    con.commit()
    con.close()


def _raw_baseline(path: Path, mapping: dict[str, str]) -> float:
    con = sqlite3.connect(path)
    pairs = [(mapping[user], pk) for pk, user in con.execute("SELECT id, user_id FROM bookings")]
    start = time.perf_counter()
    con.executemany("UPDATE bookings SET agent_id = ? WHERE id = ?", pairs)
    con.commit()
    elapsed = time.perf_counter() - start
    con.close()
    return len(pairs) / elapsed


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool = False) -> list[dict[str, object]]:
    rows = 20_000 if quick else 100_000
    users = rows // 4
    work = Path(tempfile.mkdtemp(prefix="dualid-bench-"))
    try:
        template = work / "template.db"
        _make_table(template, rows, users)
        user_ids = [f"user-{i:07d}" for i in range(users)]

        def fresh(name: str) -> Path:
            path = work / name
            shutil.copyfile(template, path)
            return path

        def migrate(sdk: DualId, path: Path, batch: int) -> float:
            def go() -> None:
                report = migrate_ids(
                    sdk,
                    f"sqlite:///{path}",
                    table="bookings",
                    user_column="user_id",
                    agent_column="agent_id",
                    batch=batch,
                )
                if not report.complete or report.rows_updated != rows:
                    raise RuntimeError(f"incomplete migration: {report}")

            return rows / _timed(go)

        key = generate_master_key()
        with DualId.open(f"sqlite:///{work}/creating.db", keys=key) as sdk:
            creating = migrate(sdk, fresh("t_creating.db"), 5_000)
        # Best of ``repeats`` for the target figure and its baseline, each run on a fresh
        # copy of the table: one run of either is short enough for scheduler noise to count.
        repeats = 1 if quick else 3
        with DualId.open(f"sqlite:///{work}/existing.db", keys=key) as sdk:
            mapping = sdk.identity.agents_for(user_ids)
            existing = max(migrate(sdk, fresh(f"t_existing_{i}.db"), 5_000) for i in range(repeats))
            existing_500 = migrate(sdk, fresh("t_existing_500.db"), 500)
        baseline = max(_raw_baseline(fresh(f"t_raw_{i}.db"), mapping) for i in range(repeats))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def row(figure: str, value: float, target: float | None) -> dict[str, object]:
        return {
            "key": figure,
            "figure": f"{figure} ({rows:,} rows, {users:,} users)",
            "value": round(value),
            "baseline": round(baseline),
            "ratio": round(value / baseline, 3),
            "target": target,
            "unit": "rows/s",
            "note": "" if target is not None else "informational: no target",
        }

    return [
        row("migrate_ids", existing, TARGET_RATIO),
        row("migrate_ids_batch_500", existing_500, None),
        row("migrate_ids_creating_agents", creating, None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows instead of 100,000")
    args = parser.parse_args()
    for r in run(args.quick):
        target = "" if r["target"] is None else f"  (target >= {r['target']}x)"
        print(
            f"{r['figure']}: {r['value']:,} {r['unit']} vs raw executemany "
            f"{r['baseline']:,} {r['unit']} = {r['ratio']}x{target}"
        )


if __name__ == "__main__":
    main()
