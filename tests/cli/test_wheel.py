"""Build the wheel, install it with the cli extra in a clean venv, run ``dualid demo``.

Catches what an editable install hides: a missing ``py.typed``, migration scripts or other
package data, or an entry point that does not resolve.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


def _run(
    *args: str | os.PathLike[str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUALID_", "VIRTUAL_ENV"))}
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO, cwd=REPO)
    (wheel,) = dist.glob("dualid-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dualid/py.typed" in names
    migrations = {n for n in names if n.startswith("dualid/store/migrations/versions/")}
    shipped = {
        f"dualid/store/migrations/versions/{p.name}"
        for p in (REPO / "src/dualid/store/migrations/versions").glob("*.py")
    }
    assert shipped <= migrations
    assert "dualid/store/migrations/env.py" in names
    assert "dualid/store/migrations/script.py.mako" in names
    assert "dualid/cli.py" in names
    # dualid.ui's package data: templates, the stylesheet and the compiled catalogs.
    assert "dualid/ui/templates/consent.html" in names
    assert "dualid/ui/static/dualid.css" in names
    assert "dualid/ui/locale/de/LC_MESSAGES/dualid.mo" in names

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", f"{wheel}[cli]")

    empty = tmp_path / "empty"
    empty.mkdir()
    demo = _run(venv / "bin" / "dualid", "demo", cwd=empty)
    assert "hash chain intact" in demo.stdout
    assert (empty / "dualid.db").exists()
    assert (empty / "dualid.db.key").exists()
    current = _run(venv / "bin" / "dualid", "db", "current", cwd=empty)
    assert "(head)" in current.stdout
