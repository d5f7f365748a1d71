"""P8: library code reads wall-clock time only through the clock. An AST scan of
src/dualid finds every reference to datetime.now/utcnow/today, date.today, time.time and
time.time_ns (however imported or aliased) and allows them only under dualid/clock/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dualid

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
    """``(line, qualified name)`` of every reference to a forbidden wall-clock read."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> qualified name
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for item in node.names:
                if item.asname:
                    aliases[item.asname] = item.name
                else:
                    top = item.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for item in node.names:
                aliases[item.asname or item.name] = f"{node.module}.{item.name}"

    def qualify(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute):
            name = qualify(node)
            if name in FORBIDDEN:
                found.append((node.lineno, name))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
        ):
            # getattr(datetime, "now") and friends
            base = qualify(node.args[0])
            attr = node.args[1]
            if base and isinstance(attr, ast.Constant) and f"{base}.{attr.value}" in FORBIDDEN:
                found.append((node.lineno, f"{base}.{attr.value}"))
    return sorted(set(found))


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
    ],
)
def test_the_scanner_allows_the_rest(source: str) -> None:
    assert wall_clock_reads(source) == []


def test_wall_clock_reads_only_inside_dualid_clock() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20  # the whole package is scanned
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: {name}"
        for path in files
        if ALLOWED not in path.parents
        for line, name in wall_clock_reads(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
