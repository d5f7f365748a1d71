"""Run the downstream project's test suite in ``examples/downstream_tests/``.

That suite uses dualid's pytest plugin (fixtures ``dualid_sdk`` and ``dualid_clock``, the
``dualid_clock`` marker) with no conftest.py: installing dualid is enough. This script runs
it with ``pytest.main`` and exits with its status.

Run it: ``python examples/run_downstream_tests.py`` (needs pytest; writes no files).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent / "downstream_tests"


def main() -> int:
    sys.dont_write_bytecode = True  # leave no __pycache__ behind in the examples
    return int(
        pytest.main([str(SUITE), "-c", str(SUITE / "pytest.ini"), "--rootdir", str(SUITE), "-q"])
    )


if __name__ == "__main__":
    sys.exit(main())
