"""Declared dependencies match what the code imports: deptry, as `.ci/run` runs it, finds no
undeclared import and no declared runtime dependency that nothing imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_deptry_finds_no_dependency_issue() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "deptry", "src", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ntplib_is_a_development_dependency_only() -> None:
    # dualid parses NTP itself (clock/_ntp.py); ntplib is the tests' independent client.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [d for d in project["dependencies"] if d.startswith("ntplib")]
    assert [d for d in project["optional-dependencies"]["dev"] if d.startswith("ntplib")]
