"""The entry point: help, ``python -m dualid.cli``, and a missing ``cli`` extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dualid.cli import MISSING_EXTRA

from .conftest import Run, subprocess_env


def test_help_lists_every_command(dualid: Run) -> None:
    result = dualid("--help")
    assert result.exit_code == 0
    commands = ("demo", "db", "migrate-ids", "keys", "audit", "consent", "clock", "clock-audit")
    for command in commands:
        assert command in result.stdout


def test_version(dualid: Run) -> None:
    import importlib.metadata

    import dualid as package

    result = dualid("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"dualid {package.__version__}\n"
    assert package.__version__ == importlib.metadata.version("dualid")


@pytest.mark.parametrize("command", [[], ["keys"], ["clock", "status"], ["audit"], ["db"]])
def test_help_reflows_to_the_terminal_width(cli: Run, command: list[str]) -> None:
    narrow = cli(*command, "--help", env={"COLUMNS": "60"})
    wide = cli(*command, "--help", env={"COLUMNS": "250"})
    assert narrow.exit_code == wide.exit_code == 0, narrow.output
    assert max(len(line.rstrip()) for line in narrow.stdout.splitlines()) <= 60
    assert len(wide.stdout.splitlines()) < len(narrow.stdout.splitlines())


@pytest.mark.parametrize(
    ("command", "name", "first", "last"),
    [
        ([], "demo", "made-up person", "no configuration"),
        ([], "keys", "Master keys", "remove the old key"),
        (["keys"], "rotate", "Re-wrap every data key", "where it stopped"),
    ],
)
def test_command_lists_reflow_help_written_over_several_lines(
    cli: Run, command: list[str], name: str, first: str, last: str
) -> None:
    # Each of these docstrings spans several source lines; in a wide terminal its row in
    # the command list is one line, not the docstring's line breaks.
    wide = cli(*command, "--help", env={"COLUMNS": "250"}).stdout
    (row,) = [line for line in wide.splitlines() if line.startswith(f"│ {name} ")]
    assert first in row
    assert last in row


def test_missing_extra_prints_the_install_command_and_exits_2() -> None:
    code = (
        "import sys; sys.modules['typer'] = None; sys.argv = ['dualid', '--help']\n"
        "from dualid.cli import main\nmain()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == MISSING_EXTRA
    assert MISSING_EXTRA == "dualid: the CLI needs the cli extra: pip install 'dualid[cli]'"


def test_core_never_imports_typer_or_rich() -> None:
    code = (
        "import sys, dualid, dualid.sdk, dualid.tools.migrate_ids, dualid.tools.clock_audit\n"
        "import dualid.cli\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "[]"


def test_errors_are_one_line_on_stderr(dualid: Run, tmp_path: object) -> None:
    result = dualid("audit", "verify", "--db", "mysql://nowhere/db")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dualid: error: ")
    assert lines[0].endswith("[CONFIGURATION_ERROR]")
