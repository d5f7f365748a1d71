"""Every example runs to completion as ``python examples/NAME.py`` and leaves no files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

pytestmark = pytest.mark.slow


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_the_expected_examples_exist() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"reservation_service.py", "community_event.py", "run_downstream_tests.py"} <= names
    assert (EXAMPLES / "downstream_tests" / "test_booking.py").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DUALID_MASTER_KEY",
            "DUALID_DATABASE_URL",
            "PYTEST_ADDOPTS",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
            "PYTEST_PLUGINS",
        }
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    before = _tree(EXAMPLES)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert _tree(EXAMPLES) == before, "the example left files in examples/"
    assert list(tmp_path.iterdir()) == [], "the example left files in its working directory"
