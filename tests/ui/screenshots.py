"""Regenerate the screenshots in ``docs/ui/``: every page at desktop and phone width, in
English (and the settings page in German), taken by headless Chromium from the example
portal. From the repository root, after the dev install::

    .venv/bin/python -m tests.ui.screenshots            # writes docs/ui/*.png
    .venv/bin/python -m tests.ui.screenshots --out DIR
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ._browser import (
    DESKTOP,
    PHONE,
    ROOT,
    chrome,
    chromium_paths,
    every_page,
    full_page_png,
    open_page,
    serve_portal,
)


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp, serve_portal(Path(tmp)) as portal:
        web = chrome()
        try:
            pages = every_page(portal, web)
            pages.append(("settings-de", f"{portal.base}/privacy/?lang=de"))
            for name, url in pages:
                open_page(web, name, url)
                for label, (width, _) in (("desktop", DESKTOP), ("phone", PHONE)):
                    target = out / f"{name}-{label}.png"
                    full_page_png(web, target, width)
                    written.append(target)
        finally:
            web.quit()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    args = parser.parse_args(argv)
    if chromium_paths() is None:
        print("screenshots: needs chromium and chromedriver (Debian packages)", file=sys.stderr)
        return 1
    for path in take(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
