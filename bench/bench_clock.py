"""Benchmark: AtomicClock.now() against datetime.now(timezone.utc), in the same run.

``run(quick)`` returns rows ``{"figure", "value", "baseline", "ratio", "target", "unit"}``;
run standalone with ``python bench/bench_clock.py [--quick]``. The clock is synced against
a FakeNtpServer on loopback first, so ``now()`` takes its normal (synced) path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dualid.clock import AtomicClock, ClockStatus
from dualid.testing import FakeNtpServer

if __package__ in (None, ""):  # python bench/bench_clock.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h

TARGET_RATIO = 5.0  # issue 18 (10x in the first round)


def _baseline() -> datetime:
    return datetime.now(UTC)


def _used(clock: AtomicClock) -> Callable[[], object]:
    """now() and then what a caller reads of it: its datetime and its HLC (the reading
    builds those on first access)."""
    now = clock.now

    def op() -> object:
        reading = now()
        return reading.time, reading.hlc

    return op


def run(quick: bool) -> list[dict[str, object]]:
    calls, repeats = (20_000, 3) if quick else (200_000, 7)
    with FakeNtpServer(offset=0.0) as server:
        clock = AtomicClock([server.address], burst=1, timeout=1.0)
        report = clock.sync()
        if not report.ok or clock.now().status is not ClockStatus.SYNCED:
            raise RuntimeError(f"bench clock did not sync: {report.error}")
        try:
            # Interleaved repeats (A B A B ...): both sides see the same machine.
            a, b = h.compare(clock.now, _baseline, number=calls, repeats=repeats)
            value, baseline = a.best, b.best
            u, b2 = h.compare(_used(clock), _baseline, number=calls, repeats=repeats)
        finally:
            clock.close()
    return [
        {
            "key": "clock_now",
            "figure": "AtomicClock.now() vs datetime.now(timezone.utc)",
            "value": round(value, 1),
            "baseline": round(baseline, 1),
            "ratio": round(value / baseline, 2),
            "target": f"<= {TARGET_RATIO:g}x",
            "unit": "ns/call",
        },
        {
            "key": "clock_now_used",
            "figure": "AtomicClock.now() with .time and .hlc read, vs datetime.now(timezone.utc)",
            "value": round(u.best, 1),
            "baseline": round(b2.best, 1),
            "ratio": round(u.best / b2.best, 2),
            "target": "-",
            "unit": "ns/call",
            "note": "a reading builds its datetime and HLC objects when first read",
        },
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
