"""``python -m bench [--quick] [--json PATH] [--only NAME,...]`` from the repository root.

Runs every benchmark module, prints one table (figure, value, raw baseline measured in the
same run, ratio, target, met) and writes it as JSON (default ``bench/results.json``).
``--only`` takes figure keys (``profile_put_get``) or suite names (``core``, ``postgres``,
``clock``, ``migrate_ids``, ``http``, ``audit``, ``kms``, ``keys``, ``webhooks``). Exit
status: 0 when every
selected figure was measured or skipped with a reason (e.g. no PostgreSQL server), 1 when
a benchmark failed.
Targets that are not met do not change the exit status: there are no timing assertions.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/__main__.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"

# Every figure of the issue, in its order: (key, suite, short name, target).
FIGURES: list[tuple[str, str, str, str]] = [
    ("clock_now", "clock", "AtomicClock.now() vs datetime.now(timezone.utc)", "<= 5x"),
    ("profile_put_get", "core", "profiles.put + profiles.get", "<= 3x"),
    ("attendees_list", "core", "events.attendees()", "<= 3x"),
    # Issue 18: against the best-layout floor and the ORM + sqlalchemy-utils peer.
    ("attendees_floor", "core", "events.attendees() vs the best-layout floor", "<= 2.5x"),
    ("attendees_peer", "core", "events.attendees() vs the ORM peer", "<= 0.33x"),
    ("agent_for_warm", "core", "identity.agent_for() warm", "<= 3x"),
    ("agent_for_cold", "core", "identity.agents_for() cold bulk", "<= 5x"),
    ("migrate_ids", "migrate_ids", "migrate-ids on 100k rows", ">= 0.25x throughput"),
    ("audit_verify", "core", "audit.verify()", ">= 200,000 entries/s"),
    ("attendees_http", "http", "attendees HTTP endpoint", ">= 0.5x throughput"),
    ("pg_grant_revoke", "postgres", "grant/revoke on PostgreSQL, 4 processes", "<= 5x"),
    (
        "pg_grant_revoke_under_reads",
        "postgres",
        "grant+revoke p50 on PostgreSQL while 2 processes page an event",
        "<= 1.5x",
    ),
    ("attendees_memory", "core", "iter_attendees() peak memory", "bounded"),
    # Issue 14: the audit log's checkpoints and proofs (informational but for verify).
    ("audit_checkpoint", "audit", "audit.checkpoint() from scratch, 1 M entries", "-"),
    ("audit_checkpoint_incremental", "audit", "audit.checkpoint() after 1,000 more", "-"),
    ("audit_verify_checkpoint", "audit", "audit.verify(checkpoint=cp)", ">= 200,000 entries/s"),
    ("audit_verify_checkpoint_chain", "audit", "audit.verify() before any checkpoint", "-"),
    ("audit_verify_deep", "audit", "audit.verify(deep=True)", ">= 50,000 entries/s"),
    ("audit_proof", "audit", "verify_inclusion() and proof size, 1 M entries", "-"),
    ("audit_proof_prove", "audit", "audit.prove(), 1 M entries", "-"),
    # Issue 16: KMS calls with the AWS KMS provider (moto's server on loopback).
    ("kms_agents_for", "kms", "agents_for() of 10,000 new people: KMS calls", "<= ceil(n/batch)"),
    ("kms_attendees_cold", "kms", "attendees() of 10,000 cold: KMS calls", "<= 1 per agent"),
    ("kms_attendees_cold_single", "kms", "the same, people created one by one", "<= 1 per agent"),
    ("kms_attendees_warm", "kms", "attendees() of 10,000 warm: KMS calls", "0"),
    # Issue 16, item 6: rotating the blind-index key (informational).
    ("index_rotation", "keys", "keys.rotate_index() throughput", "-"),
    ("agent_for_rotating", "keys", "identity.agent_for() warm during an index rotation", "-"),
    # Issue 17: the webhook outbox and its delivery.
    ("webhooks_outbox_sqlite", "webhooks", "grant + revoke with the outbox, SQLite", "<= 1.1x"),
    ("webhooks_outbox_pg", "webhooks", "grant + revoke with the outbox, PostgreSQL", "<= 1.1x"),
    ("webhooks_delivery_1", "webhooks", "webhook delivery, SQLite, 1 deliverer", "-"),
    ("webhooks_delivery_pg_1", "webhooks", "webhook delivery, PostgreSQL, 1 deliverer", "-"),
    ("webhooks_delivery_pg_4", "webhooks", "webhook delivery, PostgreSQL, 4 deliverers", "-"),
]
SUITES = {
    "clock": "bench.bench_clock",
    "core": "bench.bench_core",
    "migrate_ids": "bench.bench_migrate_ids",
    "http": "bench.bench_http",
    "postgres": "bench.bench_postgres",
    "audit": "bench.bench_audit",
    "kms": "bench.bench_kms",
    "keys": "bench.bench_keys",
    "webhooks": "bench.bench_webhooks",
}
# Suites whose run() takes (quick, only); the others take (quick) only.
_SELECTIVE = {"core", "postgres", "audit", "kms", "webhooks"}


def _parse_target(target: str) -> tuple[str, float] | None:
    """Understand a foreign row's target string: '<= 10x', 'within 5x', '>= 0.25x',
    'at least 0.5x'."""
    import re

    text = target.lower().replace(",", "")
    m = re.search(r"(\d+(?:\.\d+)?)", text)
    if m is None:
        return None
    number = float(m.group(1))
    if "<=" in text or "within" in text or "at most" in text:
        return h.MAX_RATIO, number
    if ">=" in text or "at least" in text:
        return (h.MIN_RATIO if "x" in text[m.end() : m.end() + 2] else h.MIN_VALUE), number
    return None


def _adapt(suite: str, rows: list[dict[str, Any]]) -> list[h.Row]:
    """Give rows from modules written to the plain shape (figure, value, baseline, ratio,
    target, unit) a key and a met flag."""
    keys = [k for k, s, _, _ in FIGURES if s == suite]
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        if "key" not in row:
            row["key"] = keys[0] if len(rows) == 1 and len(keys) == 1 else f"{suite}_{i + 1}"
        row.setdefault("skipped", row.get("value") is None)
        if row.get("target") is None:  # informational, no target
            row["target"] = "-"
            row.setdefault("met", None)
        if isinstance(row.get("target"), int | float):  # a bare number: "at least" a ratio
            row["target"] = f">= {row['target']:g}x throughput"
        unit = str(row.get("unit", ""))
        if " (" in unit and unit.endswith(")"):  # "req/s (baseline: ...)"
            unit, _, desc = unit[:-1].partition(" (")
            row["unit"] = unit
            row.setdefault("baseline_desc", desc.removeprefix("baseline: "))
        if "met" not in row and not row["skipped"]:
            parsed = _parse_target(str(row.get("target", "")))
            if parsed is not None and isinstance(row.get("ratio"), int | float):
                kind, threshold = parsed
                row["target_kind"], row["threshold"] = kind, threshold
                if kind == h.MAX_RATIO:
                    row["met"] = row["ratio"] <= threshold
                elif kind == h.MIN_RATIO:
                    row["met"] = row["ratio"] >= threshold
                else:
                    row["met"] = row["value"] >= threshold
            else:
                row["met"] = None
        row.setdefault("note", "")
        out.append(row)
    return out


def _select(only: str | None) -> tuple[set[str], set[str] | None]:
    """Suites to run and, within them, figure keys (None: all)."""
    if not only:
        return set(SUITES), None
    names = {n.strip() for n in only.split(",") if n.strip()}
    known = {k for k, *_ in FIGURES} | set(SUITES)
    unknown = names - known
    if unknown:
        raise SystemExit(
            f"--only: unknown name(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    suites = {n for n in names if n in SUITES}
    keys = {k for k, s, _, _ in FIGURES if k in names or s in suites}
    suites |= {s for k, s, _, _ in FIGURES if k in keys}
    return suites, keys


def _run_suite(suite: str, quick: bool, keys: set[str] | None) -> tuple[list[h.Row], float, bool]:
    """Rows of one suite, its seconds, and whether it failed."""
    figs = [(k, n, t) for k, s, n, t in FIGURES if s == suite and (keys is None or k in keys)]
    start = time.perf_counter()
    try:
        module = importlib.import_module(SUITES[suite])
    except ModuleNotFoundError as exc:
        if exc.name != SUITES[suite]:
            raise
        note = f"skipped: {SUITES[suite].replace('.', '/')}.py is not in this checkout"
        return [h.skipped(k, n, t, note) for k, n, t in figs], 0.0, False
    run: Callable[..., list[dict[str, Any]]] = module.run
    try:
        rows = run(quick, keys) if suite in _SELECTIVE else run(quick)
    except Exception as exc:
        traceback.print_exc()
        rows = []
        for k, n, t in figs:
            row = h.skipped(k, n, t, f"error: {type(exc).__name__}: {exc}")
            row.update(skipped=False, error=True)
            rows.append(row)
        return rows, time.perf_counter() - start, True
    rows = _adapt(suite, rows)
    if keys is not None:
        # A figure's informational companions (profile_put_get_floor) come with it.
        rows = [
            r
            for r in rows
            if r["key"].startswith(suite + "_")
            or any(r["key"] == k or r["key"].startswith(k + "_") for k in keys)
        ]
    failed = any(r.get("error") for r in rows)
    return rows, time.perf_counter() - start, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke check)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write JSON")
    parser.add_argument("--only", help="comma-separated figure keys or suite names")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="also write a cProfile (CPU time) of the run to PATH (use with --only); read "
        "it with python -m pstats PATH",
    )
    args = parser.parse_args(argv)
    if args.profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        try:
            return profiler.runcall(_main, args)
        finally:
            profiler.dump_stats(args.profile)
            print(f"wrote {args.profile}")
    return _main(args)


def _main(args: argparse.Namespace) -> int:
    suites, keys = _select(args.only)
    started = time.perf_counter()
    rows: list[h.Row] = []
    seconds: dict[str, float] = {}
    failed = False
    for suite in SUITES:
        if suite not in suites:
            continue
        print(f"== {suite}", file=sys.stderr, flush=True)
        got, took, bad = _run_suite(suite, args.quick, keys)
        rows.extend(got)
        seconds[suite] = round(took, 1)
        failed |= bad
        print(f"== {suite}: {took:.1f} s", file=sys.stderr, flush=True)
    order = {k: i for i, (k, *_) in enumerate(FIGURES)}
    rows.sort(key=lambda r: order.get(r["key"], len(order)))
    total = time.perf_counter() - started
    mode = "quick" if args.quick else "full"
    meta = {**h.machine(), "mode": mode, "seconds": round(total, 1), "suite_seconds": seconds}
    print()
    print(
        f"dualid benchmarks ({mode}) - {meta['date']} - {meta['cpu']}, {meta['cores']} cores, "
        f"Python {meta['python']}, SQLite {meta['sqlite']}"
    )
    print(h.table(rows))
    print(f"\ntotal {total:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
