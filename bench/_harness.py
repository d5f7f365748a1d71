"""Timing, memory and reporting helpers shared by the benchmark modules.

Conventions (see docs/benchmarks.md):

* every figure is measured against a raw baseline **in the same run**, interleaved with it
  where that is possible, because these machines are shared and absolute times drift;
* per-call timings are ``time.perf_counter_ns`` loops after a warmup; each repeat gives a
  mean per call; the figure uses the **best** repeat (the least disturbed one) and the
  JSON also keeps the median;
* ``ratio`` follows the target: for "within Nx" targets it is the slowdown factor
  (SDK cost / raw cost, lower is better); for "at least" targets it is the fraction of the
  raw throughput the SDK reaches (higher is better);
* memory is ``tracemalloc`` peak of the traced block (Python allocations, incl. those
  of C extensions that use the Python allocator), after a ``gc.collect()``.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Row = dict[str, Any]

# Kinds of target, used to decide whether a figure met it.
MAX_RATIO = "max_ratio"  # ratio (slowdown) must be <= threshold
MIN_RATIO = "min_ratio"  # ratio (throughput fraction) must be >= threshold
MIN_VALUE = "min_value"  # value itself must be >= threshold
BOUNDED = "bounded"  # decided by the module (memory flat in the event size)


@dataclass(frozen=True)
class Timing:
    """Per-call nanoseconds over several repeats."""

    best: float
    median: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        return cls(min(samples), statistics.median(samples), tuple(samples))


def _loop_ns(fn: Callable[[], object], number: int) -> float:
    # The garbage collector stays on (its work on what the call allocates is part of the
    # call's cost), but every sample starts from a full collection: a sample does not pay
    # for the garbage the previous one (the other side of the comparison) left behind.
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number


def per_call(
    fn: Callable[[], object], *, number: int, repeats: int, warmup: int | None = None
) -> Timing:
    """ns per call of ``fn``: ``warmup`` calls, then ``repeats`` loops of ``number``."""
    for _ in range(number // 5 + 1 if warmup is None else warmup):
        fn()
    return Timing.of([_loop_ns(fn, number) for _ in range(repeats)])


def compare(
    sdk: Callable[[], object],
    raw: Callable[[], object],
    *,
    number: int,
    repeats: int,
    warmup: int | None = None,
) -> tuple[Timing, Timing]:
    """Time ``sdk`` and ``raw`` per call, interleaving their repeats (A B A B ...) so both
    see the same machine conditions."""
    n_warm = number // 5 + 1 if warmup is None else warmup
    for _ in range(n_warm):
        sdk()
        raw()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeats):
        a.append(_loop_ns(sdk, number))
        b.append(_loop_ns(raw, number))
    return Timing.of(a), Timing.of(b)


def compare_many(
    calls: dict[str, Callable[[], object]],
    *,
    number: int,
    repeats: int,
    warmup: int | None = None,
) -> dict[str, Timing]:
    """:func:`compare` for several sides at once: their repeats interleaved (A B C A B C
    ...), so every side sees the same machine conditions."""
    n_warm = number // 5 + 1 if warmup is None else warmup
    for _ in range(n_warm):
        for fn in calls.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            samples[name].append(_loop_ns(fn, number))
    return {name: Timing.of(s) for name, s in samples.items()}


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Wall seconds of one call of ``fn`` and its result (garbage collector as in
    :func:`_loop_ns`)."""
    gc.collect()
    start = time.perf_counter_ns()
    result = fn()
    return (time.perf_counter_ns() - start) / 1e9, result


def best_of(fn: Callable[[], object], repeats: int) -> Timing:
    """Wall seconds of ``repeats`` single calls (for calls that are long on their own);
    the samples are seconds, not ns."""
    return Timing.of([timed(fn)[0] for _ in range(repeats)])


def traced_peak(fn: Callable[[], T]) -> tuple[int, T]:
    """Peak bytes allocated (tracemalloc) while ``fn`` runs, above what was live before."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peak - base, result


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (Linux: ru_maxrss is KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss) * (1 if sys.platform == "darwin" else 1024)


@contextmanager
def workdir(prefix: str = "dualid-bench-") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


def figure(
    key: str,
    name: str,
    *,
    value: float,
    baseline: float,
    ratio: float,
    unit: str,
    target: str,
    kind: str,
    threshold: float,
    baseline_desc: str,
    met: bool | None = None,
    note: str = "",
    **extra: Any,
) -> Row:
    """One result row. ``met`` is computed from ``kind``/``threshold`` unless given."""
    if met is None:
        if kind == MAX_RATIO:
            met = ratio <= threshold
        elif kind == MIN_RATIO:
            met = ratio >= threshold
        elif kind == MIN_VALUE:
            met = value >= threshold
        else:
            raise ValueError(f"figure {key}: kind {kind!r} needs an explicit met")
    row: Row = {
        "key": key,
        "figure": name,
        "value": _round(value),
        "baseline": _round(baseline),
        "ratio": round(float(ratio), 3),
        "unit": unit,
        "target": target,
        "target_kind": kind,
        "threshold": threshold,
        "met": bool(met),
        "skipped": False,
        "baseline_desc": baseline_desc,
        "note": note,
    }
    row.update(extra)
    return row


def slowdown(
    key: str,
    name: str,
    sdk: Timing,
    raw: Timing,
    *,
    scale: float,
    unit: str,
    threshold: float | None,
    baseline_desc: str,
    note: str = "",
) -> Row:
    """A "within N x" row from two interleaved timings (ns per call, shown divided by
    ``scale``): the best repeats and their ratio, the medians kept. ``threshold`` None
    makes it an information row (target "-", no verdict)."""
    row = figure(
        key,
        name,
        value=sdk.best / scale,
        baseline=raw.best / scale,
        ratio=sdk.best / raw.best,
        unit=unit,
        target="-" if threshold is None else f"<= {threshold:g}x",
        kind=MAX_RATIO,
        threshold=0.0 if threshold is None else threshold,
        baseline_desc=baseline_desc,
        note=note,
        value_median=_round(sdk.median / scale),
        baseline_median=_round(raw.median / scale),
    )
    if threshold is None:
        row["met"] = None
    return row


def skipped(key: str, name: str, target: str, note: str) -> Row:
    """A figure that could not be measured in this run, and why."""
    return {
        "key": key,
        "figure": name,
        "value": None,
        "baseline": None,
        "ratio": None,
        "unit": "",
        "target": target,
        "met": None,
        "skipped": True,
        "note": note,
    }


def _round(x: float) -> float:
    x = float(x)
    if x == 0 or abs(x) >= 100:
        return round(x, 1)
    return float(f"{x:.4g}")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import sqlite3

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend

        crypto = f"cryptography {cryptography.__version__} ({backend.openssl_version_text()})"
    except Exception:  # pragma: no cover - informational only
        crypto = "unknown"
    try:
        import sqlalchemy

        sqla = sqlalchemy.__version__
    except ImportError:  # pragma: no cover
        sqla = "unknown"
    mem = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem = f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqla,
        "crypto": crypto,
    }


def fmt_num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float | int):
        if abs(x) >= 1e6:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:,.1f}"
        return f"{x:.3g}"
    return str(x)


def table(rows: list[Row]) -> str:
    """A plain-text table of the rows (what the CLI prints)."""
    header = ("#", "figure", "value", "baseline", "unit", "ratio", "target", "met")
    lines: list[tuple[str, ...]] = [header]
    for i, r in enumerate(rows, 1):
        if r.get("skipped"):
            met = "skip"
        elif r.get("error"):
            met = "ERROR"
        elif r.get("met") is None:
            met = "info"
        else:
            met = "yes" if r["met"] else "NO"
        lines.append(
            (
                str(i),
                str(r["figure"]),
                fmt_num(r.get("value")),
                fmt_num(r.get("baseline")),
                str(r.get("unit", "")),
                "-" if r.get("ratio") is None else f"{r['ratio']:.3g}x",
                str(r.get("target", "")),
                met,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = [
        f"  [{i}] {r['note']}" for i, r in enumerate(rows, 1) if r.get("note") or r.get("error")
    ]
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)
