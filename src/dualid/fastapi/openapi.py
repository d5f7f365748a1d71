"""The reference OpenAPI document of the HTTP API, and the command that exports it.

``python -m dualid.fastapi.openapi [PATH]`` writes the document to ``PATH`` (default
``docs/openapi.json``, relative to the current directory);
``python -m dualid.fastapi.openapi --check [PATH]`` writes nothing and exits 1 when the file
differs, 2 when there is no file at ``PATH``. The document describes both routers mounted
under ``/v1``, with the authentication left to the application (shown as two bearer
schemes, ``hostAuth`` and ``userAuth``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dualid.crypto import LocalKeyProvider
from dualid.sdk import DualId

from . import API_VERSION
from ._host import host_router
from ._routing import install_error_handlers
from ._user import user_router

__all__ = ["DEFAULT_PATH", "main", "openapi_document", "reference_app", "render"]

DEFAULT_PATH = Path("docs/openapi.json")

_DESCRIPTION = """\
The host-facing consent API and the person-facing data-sharing settings API of dualid.

Hosts see a person only by a pairwise `ref` and only the fields the person currently
consents to share with them; internal agentIds never appear. Authentication is provided by
the application that mounts the routers. Every error is a `Problem` with a stable `code`.
"""

_host_auth = HTTPBearer(
    scheme_name="hostAuth",
    description="The host's credentials, checked by the application's authenticate_host.",
    auto_error=False,
)
_user_auth = HTTPBearer(
    scheme_name="userAuth",
    description="The person's credentials, checked by the application's authenticate_user.",
    auto_error=False,
)


def _unauthenticated() -> HTTPException:
    return HTTPException(401, "the reference app authenticates nobody")


def _reference_host(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_host_auth)],
) -> str:
    raise _unauthenticated()


def _reference_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_user_auth)],
) -> str:
    raise _unauthenticated()


def reference_app(sdk: DualId) -> FastAPI:
    """Both routers under ``/v1``, as documented; it authenticates nobody."""
    app = FastAPI(title="dualid HTTP API", version=API_VERSION, description=_DESCRIPTION)
    app.include_router(host_router(sdk, authenticate_host=_reference_host), prefix="/v1")
    app.include_router(user_router(sdk, authenticate_user=_reference_user), prefix="/v1")
    install_error_handlers(app)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of :func:`reference_app`."""
    with DualId.open("sqlite://", keys=LocalKeyProvider.ephemeral()) as sdk:
        return reference_app(sdk).openapi()


def render(document: dict[str, Any] | None = None) -> str:
    """The document as committed: indented, keys in FastAPI's order, newline at the end."""
    doc = openapi_document() if document is None else document
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dualid.fastapi.openapi", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help=f"the document to write or check (default: {DEFAULT_PATH}, from the current "
        "directory)",
    )
    parser.add_argument(
        "--output", "-o", type=Path, metavar="PATH", help="the same as PATH (kept for scripts)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs, 2 if it does not exist",
    )
    args = parser.parse_args(argv)
    if args.path is not None and args.output is not None and args.path != args.output:
        parser.error("give the path once: PATH or --output, not two different ones")
    path: Path = args.path or args.output or DEFAULT_PATH
    if args.check:
        if not path.is_file():
            # Not "out of date": most likely the wrong directory, and regenerating there
            # would write a stray copy.
            print(
                f"{parser.prog}: error: no OpenAPI document at {path}: run from the "
                "repository root or pass its path (--check PATH)",
                file=sys.stderr,
            )
            return 2
        if path.read_text(encoding="utf-8") != render():
            print(
                f"{path} is out of date: run python -m dualid.fastapi.openapi {path}",
                file=sys.stderr,
            )
            return 1
        return 0
    text = render()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
