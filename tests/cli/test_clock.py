"""``dualid clock status`` against a fake NTP server on 127.0.0.1, and ``clock-audit``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualid.testing import FakeNtpServer
from dualid.tools.clock_audit import Priority, scan, scan_source

from .conftest import Run

FIXTURES = Path(__file__).parent / "fixtures" / "clock_audit_tree"
SRC = Path(__file__).parents[2] / "src" / "dualid"


# ---------------------------------------------------------------------------- status


def test_status_synced_against_a_local_server(dualid: Run) -> None:
    with FakeNtpServer(offset=0.25) as server:
        address = server.address
        result = dualid("clock", "status", "--servers", address, "--timeout", "1")
    assert result.exit_code == 0, result.output
    assert "status:   synced" in result.stdout
    assert address in result.stdout
    assert "truechimer" in result.stdout
    assert "bound:" in result.stdout
    assert "drift:" in result.stdout


def test_status_json(cli: Run) -> None:
    with FakeNtpServer(offset=-0.5) as a, FakeNtpServer(offset=-0.5) as b:
        result = cli("clock", "status", "-s", f"{a.address},{b.address}", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"]["status"] == "synced"
    assert len(data["state"]["servers"]) == 2
    assert data["sync"]["offset"] == pytest.approx(-0.5, abs=0.1)


def test_status_unreachable_server_exits_1(cli: Run) -> None:
    with FakeNtpServer(bogus="silent") as server:
        result = cli("clock", "status", "--servers", server.address, "--timeout", "0.1")
    assert result.exit_code == 1
    assert "status:   unsynced" in result.stdout


def test_status_servers_from_the_environment(cli: Run) -> None:
    with FakeNtpServer() as server:
        address = server.address
        result = cli("clock", "status", env={"DUALID_NTP_SERVERS": address})
    assert result.exit_code == 0, result.output
    assert address in result.stdout


def test_status_bad_server_is_a_clear_error(cli: Run) -> None:
    result = cli("clock", "status", "--servers", "127.0.0.1:99999")
    assert result.exit_code == 2
    assert result.stderr.startswith("dualid: error:")


@pytest.mark.parametrize("separator", [",", ", ", " ", "\t", " , "])
def test_status_servers_separated_by_commas_and_or_whitespace(cli: Run, separator: str) -> None:
    with FakeNtpServer() as a, FakeNtpServer() as b:
        addresses = [a.address, b.address]
        listed = separator.join(addresses)
        by_option = cli("clock", "status", "--servers", listed, "--json")
        by_env = cli("clock", "status", "--json", env={"DUALID_NTP_SERVERS": listed})
    for result in (by_option, by_env):
        assert result.exit_code == 0, result.output
        servers = json.loads(result.stdout)["state"]["servers"]
        assert [s["server"] for s in servers] == addresses


@pytest.mark.parametrize(
    ("servers", "named"),
    [
        ("127.0.0.1:123,,127.0.0.1:124", "empty entry (number 2)"),
        ("127.0.0.1:123, -bad.example", "bad server address '-bad.example'"),
        ("127.0.0.1:123 127.0.0.1:99999", "bad port in server address '127.0.0.1:99999'"),
        ("127.0.0.1:123 host:1:2", "bad server address 'host:1:2'"),
        ("", "no NTP server given"),
        (" , ", "empty entry"),
    ],
)
def test_status_malformed_servers_are_one_line_naming_the_entry(
    dualid: Run, servers: str, named: str
) -> None:
    # Never a silent fall back to the public pool, never a sync attempt.
    result = dualid("clock", "status", "--servers", servers, "--timeout", "0.05")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("dualid: error: --servers")
    assert named in line
    assert line.endswith("[INVALID_INPUT]")


# ------------------------------------------------------------------------ clock-audit


def test_audit_fixture_tree_text(dualid: Run) -> None:
    result = dualid("clock-audit", str(FIXTURES))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == (
        "10 wall-clock read(s) in 7 file(s): payments 2, queue/reservation 2, "
        "audit/admin 2, analytics 2, other 2"
    )
    # Most urgent first.
    assert "[payments]" in lines[0]
    assert any("charge.py:8:" in line and "as dt.now [payments]" in line for line in lines)
    assert any("as tns [queue/reservation] in WaitList.join" in line for line in lines)
    assert any("(passed, not called) [analytics] in Sample" in line for line in lines)


def test_audit_fixture_tree_json_with_allow(dualid: Run) -> None:
    result = dualid("clock-audit", str(FIXTURES), "--format", "json", "--allow", "*/vendor_clock/*")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["files"] == 6
    assert data["counts"] == {
        "payments": 2,
        "queue/reservation": 2,
        "audit/admin": 2,
        "analytics": 2,
        "other": 1,
    }
    found = {(Path(f["path"]).name, f["line"], f["call"], f["kind"]) for f in data["findings"]}
    assert found == {
        ("charge.py", 8, "datetime.datetime.now", "call"),
        ("charge.py", 8, "time.time", "call"),
        ("queue.py", 9, "time.time_ns", "call"),
        ("queue.py", 9, "time.time", "call"),
        ("audit_log.py", 7, "datetime.datetime.utcnow", "call"),
        ("audit_log.py", 7, "datetime.date.today", "call"),
        ("metrics.py", 10, "datetime.datetime.utcnow", "reference"),
        ("metrics.py", 14, "datetime.date.today", "call"),
        ("helpers.py", 15, "datetime.datetime.now", "call"),
    }


def test_audit_clean_folder_exits_0(dualid: Run) -> None:
    result = dualid("clock-audit", str(FIXTURES / "clean"))
    assert result.exit_code == 0
    assert result.stdout.strip() == "0 wall-clock read(s) in 1 file(s)"


def test_dualid_itself_reads_the_wall_clock_only_in_its_clock(dualid: Run, tmp_path: Path) -> None:
    repo = SRC.parents[1]
    allowed = dualid("clock-audit", "src/dualid", "--allow", "src/dualid/clock/*", cwd=repo)
    assert allowed.exit_code == 0, allowed.output
    everything = dualid("clock-audit", "src/dualid", cwd=repo)
    assert everything.exit_code == 1
    assert all("src/dualid/clock/" in line for line in everything.stdout.splitlines()[:-1])


def test_unparseable_file_exits_2(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def broken(:\n")
    (tmp_path / "good.py").write_text("import time\nx = time.time()\n")
    result = cli("clock-audit", str(tmp_path))
    assert result.exit_code == 2
    assert "cannot parse" in result.stderr
    assert "good.py:2:5: time.time" in result.stdout


def test_missing_path_is_an_error(cli: Run, tmp_path: Path) -> None:
    result = cli("clock-audit", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "[ENOENT]" in result.stderr


def test_audit_finds_reads_spelled_with_getattr(dualid: Run, tmp_path: Path) -> None:
    (tmp_path / "booking.py").write_text(
        "import datetime as dt\n"
        "from datetime import datetime\n"
        "a = getattr(datetime, 'now')()\n"
        "b = getattr(dt.datetime, 'now')()\n"
        "c = getattr(dt.date, 'today', None)\n"
    )
    result = dualid("clock-audit", str(tmp_path), "--format", "json")
    assert result.exit_code == 1, result.output
    found = [(f["line"], f["call"], f["kind"]) for f in json.loads(result.stdout)["findings"]]
    assert found == [
        (3, "datetime.datetime.now", "call"),
        (4, "datetime.datetime.now", "call"),
        (5, "datetime.date.today", "reference"),
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import datetime as d\nd.datetime.now()\n", ["datetime.datetime.now"]),
        ("from datetime import date as D\nD.today()\n", ["datetime.date.today"]),
        ("import time as t\nprint(t.time_ns() + 1)\n", ["time.time_ns"]),
        ("from time import time\nf = lambda: time()\n", ["time.time"]),
        (
            "def f():\n    return datetime.now()\nfrom datetime import datetime\n",
            ["datetime.datetime.now"],
        ),
        ("import time\ntime.monotonic(); time.perf_counter()\n", []),
        (
            "from datetime import datetime\ndatetime.now(tz=None).date()\n",
            ["datetime.datetime.now"],
        ),
        ("now = 'datetime.now()'\n", []),
        ("class X:\n    def now(self): ...\nX().now()\n", []),
    ],
)
def test_scan_source(source: str, expected: list[str]) -> None:
    assert [f.call for f in scan_source(source)] == expected


def test_priority_comes_from_the_scanned_tree_not_the_folders_above(tmp_path: Path) -> None:
    root = tmp_path / "audit-service" / "src"
    root.mkdir(parents=True)
    (root / "worker.py").write_text("import time\nt = time.time()\n")
    (root / "checkout.py").write_text("import time\nt = time.time()\n")
    result = scan([root])
    assert [(Path(f.path).name, f.priority) for f in result.findings] == [
        ("checkout.py", Priority.PAYMENTS),
        ("worker.py", Priority.OTHER),
    ]
