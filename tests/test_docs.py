"""Documented code runs: every ```python block in README.md and docs/*.md, and the
doctests in dualid's modules.

Each block runs in a fresh namespace, in a temporary working directory, with
``DUALID_MASTER_KEY`` and ``DUALID_DATABASE_URL`` unset. On the line before a fence:

* ``<!-- no-test -->`` skips the block (for fragments that need a server, a KMS or an app);
* ``<!-- continued -->`` runs the block after the blocks before it in the same file (back
  to the last block without the mark), in their namespace: for a tutorial that builds up.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import dualid

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARK = "<!-- no-test -->"
CONTINUE_MARK = "<!-- continued -->"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[str, int, list[tuple[int, str]]]]:
    """(file, line, chain): the chain is the blocks to run, in order, ending with this one."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        chain: list[tuple[int, str]] = []
        for match in FENCE.finditer(text):
            line_no = text.count("\n", 0, match.start()) + 1
            previous = text[: match.start()].rstrip("\n").rpartition("\n")[2].strip()
            if previous == SKIP_MARK:
                continue
            if previous != CONTINUE_MARK:
                chain = []
            chain = [*chain, (line_no, match.group(1))]
            found.append((path.relative_to(ROOT).as_posix(), line_no, chain))
    return found


BLOCKS = _blocks()


def test_there_are_documented_examples() -> None:
    assert any(name == "docs/quickstart.md" for name, _, _ in BLOCKS)
    assert any(name == "docs/testing.md" for name, _, _ in BLOCKS)


@pytest.mark.parametrize(
    ("name", "line", "chain"), BLOCKS, ids=[f"{n}:{line}" for n, line, _ in BLOCKS]
)
def test_doc_block_runs(
    name: str,
    line: int,
    chain: list[tuple[int, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DUALID_MASTER_KEY", raising=False)
    monkeypatch.delenv("DUALID_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    for start, code in chain:
        # Pad so that tracebacks point at the line in the Markdown file.
        source = "\n" * start + code
        exec(compile(source, str(ROOT / name), "exec"), namespace)


def _modules() -> list[str]:
    # Alembic scripts (env.py, versions) only run inside an Alembic context.
    return sorted(
        info.name
        for info in pkgutil.walk_packages(dualid.__path__, prefix="dualid.")
        if ".migrations." not in info.name
    )


def _extra_missing(module: str) -> str | None:
    needs = {"dualid.fastapi": "fastapi", "dualid.cli": "typer", "dualid._cli": "typer"}
    for prefix, dist in needs.items():
        if (module == prefix or module.startswith(prefix + ".")) and importlib.util.find_spec(
            dist
        ) is None:
            return dist
    if module.startswith("dualid.testing.plugin") and importlib.util.find_spec("pytest") is None:
        return "pytest"
    if module == "dualid.testing.strategies" and importlib.util.find_spec("hypothesis") is None:
        return "hypothesis"
    return None


@pytest.mark.parametrize("module_name", _modules())
def test_module_doctests(module_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = _extra_missing(module_name)
    if missing:
        pytest.skip(f"needs {missing}")
    monkeypatch.delenv("DUALID_MASTER_KEY", raising=False)
    monkeypatch.delenv("DUALID_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(module_name)
    # Docstring examples may use dualid's public names without importing them.
    public = {name: getattr(dualid, name) for name in dualid.__all__}
    result = doctest.testmod(
        module, extraglobs=public, optionflags=doctest.ELLIPSIS, report=True, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests failed"
