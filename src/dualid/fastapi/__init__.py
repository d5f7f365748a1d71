"""FastAPI routers for hosts and for the person's data-sharing settings.

Needs the ``fastapi`` extra (``pip install 'dualid[fastapi]'``); the rest of dualid never
imports FastAPI. The application mounts the routers with its own authentication, in the
fastapi-users style::

    from fastapi import FastAPI
    from dualid.fastapi import host_router, install_error_handlers, user_router

    app = FastAPI()
    app.include_router(host_router(sdk, authenticate_host=current_host_id), prefix="/v1")
    app.include_router(user_router(sdk, authenticate_user=current_user_id), prefix="/v1")
    install_error_handlers(app)   # optional: the same error shape for the whole app

Every failure is a problem document (RFC 9457) with a stable ``code`` from
:class:`ErrorCode`; :data:`STATUS_BY_CODE` is the one mapping of SDK errors to statuses.
See ``docs/api.md``.

.. versionadded:: 0.1
"""

try:
    import fastapi as _fastapi  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "dualid.fastapi needs FastAPI: pip install 'dualid[fastapi]'", name=exc.name
    ) from exc

from ._errors import (
    STATUS_BY_CODE,
    ErrorCode,
    ProblemError,
    problem_body,
    problem_response,
    status_for,
    validation_problem,
)
from ._host import host_router
from ._routing import DEFAULT_MAX_BODY_BYTES, ProblemRoute, install_error_handlers
from ._schemas import Problem
from ._user import user_router

API_VERSION = "1.0.0"
"""The version of the HTTP API (``info.version`` of the OpenAPI document); see
``docs/versioning.md``."""

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_BODY_BYTES",
    "STATUS_BY_CODE",
    "ErrorCode",
    "Problem",
    "ProblemError",
    "ProblemRoute",
    "host_router",
    "install_error_handlers",
    "problem_body",
    "problem_response",
    "status_for",
    "user_router",
    "validation_problem",
]
