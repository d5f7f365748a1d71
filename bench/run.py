"""``python bench/run.py [--quick] [--json PATH] [--only NAME,...]``: the same entry point as
``python -m bench``, for running the suite by path."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.__main__ import main

    sys.exit(main())
