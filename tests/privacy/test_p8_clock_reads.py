"""P8: library code reads wall-clock time only through the clock. The scanner of
``dualid clock-audit`` (an AST scan, :mod:`dualid.tools.clock_audit`) runs over src/dualid and
finds every reference to datetime.now/utcnow/today, date.today, time.time and time.time_ns
(however imported, aliased or looked up with ``getattr``); they are allowed only under
dualid/clock/. One scanner: what this test finds, the command finds."""

from __future__ import annotations

from pathlib import Path

import pytest

import dualid
from dualid.tools.clock_audit import WALL_CLOCK_READS, scan, scan_source

PACKAGE = Path(dualid.__file__).resolve().parent
ALLOWED = PACKAGE / "clock"
FORBIDDEN = {
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
    "time.time",
    "time.time_ns",
}


def wall_clock_reads(source: str) -> list[tuple[int, str]]:
    """``(line, qualified name)`` of every wall-clock read the tool finds in ``source``."""
    return [(f.line, f.call) for f in scan_source(source)]


def test_the_scanner_looks_for_exactly_the_forbidden_reads() -> None:
    assert WALL_CLOCK_READS == FORBIDDEN


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import datetime\ndatetime.datetime.now()", "datetime.datetime.now"),
        ("from datetime import datetime\ndatetime.now(tz=None)", "datetime.datetime.now"),
        ("from datetime import datetime as dt\ndt.utcnow()", "datetime.datetime.utcnow"),
        ("from datetime import datetime\nx = datetime.today()", "datetime.datetime.today"),
        ("from datetime import date\ndate.today()", "datetime.date.today"),
        ("import datetime as d\nd.date.today()", "datetime.date.today"),
        ("import time\ntime.time()", "time.time"),
        ("import time as t\nt.time_ns()", "time.time_ns"),
        ("from time import time\ntime()", "time.time"),
        ("from time import time_ns as ns\nns()", "time.time_ns"),
        ("from datetime import datetime\nf = datetime.now", "datetime.datetime.now"),
        ("from datetime import datetime\ngetattr(datetime, 'now')()", "datetime.datetime.now"),
        ("import datetime as dt\ngetattr(dt.datetime, 'now')()", "datetime.datetime.now"),
        ("import time\nf = getattr(time, 'time_ns', None)", "time.time_ns"),
        ("from datetime import *\ndate.today()", "datetime.date.today"),
        (
            "from pydantic import Field\nfrom datetime import datetime\n"
            "x = Field(default_factory=datetime.now)",
            "datetime.datetime.now",
        ),
    ],
)
def test_the_scanner_finds_every_form(source: str, expected: str) -> None:
    assert [name for _, name in wall_clock_reads(source)] == [expected]


@pytest.mark.parametrize(
    "source",
    [
        "import time\ntime.monotonic(); time.perf_counter_ns(); time.sleep(0)",
        "from datetime import datetime, UTC\ndatetime(2020, 1, 1, tzinfo=UTC).isoformat()",
        "from datetime import date\ndate.fromisoformat('2020-01-01')",
        "def now():\n    return 1\nnow()",
        "class C:\n    def time(self): ...\nC().time()",
        "import time\ngetattr(time, 'monotonic')()",
        "getattr(clock, 'now')()",
    ],
)
def test_the_scanner_allows_the_rest(source: str) -> None:
    assert wall_clock_reads(source) == []


def test_wall_clock_reads_only_inside_dualid_clock() -> None:
    result = scan([PACKAGE], allow=[f"{ALLOWED.as_posix()}/*"])
    inside = scan([ALLOWED])
    assert result.files > 20  # the whole package is scanned
    assert result.errors == []
    assert inside.findings  # the clock itself does read it: the scan is not blind
    offenders = [f"{f.path}:{f.line}: {f.call}" for f in result.findings]
    assert offenders == []
