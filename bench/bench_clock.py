"""Benchmark: AtomicClock.now() against datetime.now(timezone.utc), in the same run.

``run(quick)`` returns rows ``{"figure", "value", "baseline", "ratio", "target", "unit"}``;
run standalone with ``python bench/bench_clock.py [--quick]``. The clock is synced against
a FakeNtpServer on loopback first, so ``now()`` takes its normal (synced) path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from dualid.clock import AtomicClock, ClockStatus
from dualid.testing import FakeNtpServer

TARGET_RATIO = 10.0


def _per_call_ns(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Best of ``repeats`` timings of ``calls`` calls, in ns per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def _baseline() -> datetime:
    return datetime.now(UTC)


def run(quick: bool) -> list[dict[str, object]]:
    calls, repeats = (20_000, 3) if quick else (200_000, 7)
    with FakeNtpServer(offset=0.0) as server:
        clock = AtomicClock([server.address], burst=1, timeout=1.0)
        report = clock.sync()
        if not report.ok or clock.now().status is not ClockStatus.SYNCED:
            raise RuntimeError(f"bench clock did not sync: {report.error}")
        try:
            now = clock.now
            value = _per_call_ns(now, calls, repeats)
            baseline = _per_call_ns(_baseline, calls, repeats)
        finally:
            clock.close()
    return [
        {
            "figure": "AtomicClock.now() vs datetime.now(timezone.utc)",
            "value": round(value, 1),
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 2),
            "target": f"<= {TARGET_RATIO:g}x",
            "unit": "ns/call",
        }
    ]


def main(argv: list[str]) -> int:
    rows = run(quick="--quick" in argv)
    for row in rows:
        print(
            f"{row['figure']}: {row['value']} {row['unit']} vs {row['baseline']} {row['unit']}"
            f" -> {row['ratio']}x (target {row['target']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
