"""The ``dualid`` operator command.

Needs the ``cli`` extra (typer and rich): ``pip install 'dualid[cli]'``. The commands live
in the private package :mod:`dualid._cli`; this module is only the entry point, so that the
core never imports typer or rich and a missing extra gives one clear line instead of a
traceback.

Exit codes: 0 success; 1 a check failed (``audit verify`` found a broken chain,
``migrate-ids`` left rows without an agentId, ``clock-audit`` found wall-clock reads,
``clock status`` is not synced); 2 an error (bad usage, bad input, configuration, database)
or the missing extra; 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["MISSING_EXTRA", "main"]

MISSING_EXTRA = "dualid: the CLI needs the cli extra: pip install 'dualid[cli]'"
_EXTRA_MODULES = ("typer", "rich")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``dualid`` command with ``argv`` (default: ``sys.argv[1:]``); exits."""
    try:
        from dualid._cli import app
    except ImportError as exc:
        name = exc.name or ""
        if name.split(".")[0] in _EXTRA_MODULES:
            print(MISSING_EXTRA, file=sys.stderr)
            raise SystemExit(2) from None
        raise
    app(args=None if argv is None else list(argv), prog_name="dualid")


if __name__ == "__main__":
    main()
