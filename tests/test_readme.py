"""The README's usage example is true to the API: it runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_usage_example_runs() -> None:
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})


def test_quick_start_has_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert (
        "python -m venv .venv && .venv/bin/pip install -e '.[cli]' && .venv/bin/dualid demo" in text
    )
    assert "python -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest" in text


def test_linked_docs_exist() -> None:
    text = README.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (README.parent / target).exists(), target
