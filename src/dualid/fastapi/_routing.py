"""The route class that makes a mounted router answer every failure in the problem shape.

A router cannot register exception handlers (only an application can), so each route's
handler is wrapped: :class:`~dualid.DualIdError`, validation errors, HTTP exceptions raised
by the host's authentication dependency and oversized bodies become problem responses
right there. Mounting the router is enough; :func:`install_error_handlers` extends the same
shape to the rest of the application (unknown routes, other routers, unexpected errors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from dualid.errors import DualIdError

from ._errors import (
    ErrorCode,
    ProblemError,
    http_problem,
    internal_problem,
    problem_response,
    validation_problem,
)
from ._schemas import Problem

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ProblemRoute",
    "install_error_handlers",
    "problem_responses",
    "route_class",
]

log = logging.getLogger("dualid.fastapi")

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
"""Largest request body the routers accept; larger ones get 413 ``PAYLOAD_TOO_LARGE``."""

_BODILESS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


async def _read_bounded(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ProblemError(400, ErrorCode.BAD_REQUEST, "invalid Content-Length")
        if int(declared) > limit:
            raise ProblemError(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes"
            )
    elif request.method in _BODILESS and "transfer-encoding" not in request.headers:
        return
    # Read it here, counting, so a chunked body cannot grow past the limit either; FastAPI
    # then finds it already read.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes"
            )
        chunks.append(chunk)
    request._body = b"".join(chunks)


class ProblemRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` whose failures are problem responses.

    Use it for routes of your own that call the SDK
    (``APIRouter(route_class=ProblemRoute)``) to get the same error contract.
    ``max_body_bytes`` bounds request bodies (413 beyond it).
    """

    max_body_bytes: ClassVar[int] = DEFAULT_MAX_BODY_BYTES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        async def problem_handler(request: Request) -> Response:
            try:
                await _read_bounded(request, limit)
                return await handler(request)
            except (DualIdError, ProblemError) as exc:
                return problem_response(exc)
            except RequestValidationError as exc:
                return validation_problem(exc)
            except HTTPException as exc:
                return http_problem(exc)

        return problem_handler


def route_class(max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> type[ProblemRoute]:
    """A :class:`ProblemRoute` with another body limit."""
    if max_body_bytes == DEFAULT_MAX_BODY_BYTES:
        return ProblemRoute
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
        raise TypeError("max_body_bytes must be an int")
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    return type("ProblemRoute", (ProblemRoute,), {"max_body_bytes": max_body_bytes})


_COMMON: Final[Mapping[int, str]] = {
    # Every route reads the request through _read_bounded, which refuses a bad
    # Content-Length whatever the method, so 400 is common, not only for bodies.
    400: "BAD_REQUEST: the request cannot be read at all (an invalid Content-Length).",
    401: "Not authenticated: raised by the application's authentication dependency "
    "(UNAUTHENTICATED), or FORBIDDEN (403).",
    422: "VALIDATION_ERROR: the request does not match this schema (malformed JSON, unknown "
    "keys or enum values, bad ids); `fields` names the failing locations.",
    500: "INTERNAL_ERROR: a server-side failure; nothing about it is disclosed.",
    503: "STORE_UNAVAILABLE, SCHEMA_OUT_OF_DATE, KEY_SERVICE_UNAVAILABLE or CLOCK_ERROR: "
    "retry later (Retry-After).",
}
_BODY: Final[Mapping[int, str]] = {
    413: "PAYLOAD_TOO_LARGE: the request body exceeds the router's limit (64 KiB by default).",
}


def problem_responses(
    specific: Mapping[int, str] | None = None, *, body: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: every failure it can answer, each a :class:`Problem`.
    ``specific`` adds or extends descriptions (a 422 description is appended to the
    generic validation one)."""
    descriptions: dict[int, str] = dict(_COMMON)
    if body:
        descriptions.update(_BODY)
    for status, text in (specific or {}).items():
        if status in descriptions:
            descriptions[status] = f"{text} Or {descriptions[status]}"
        else:
            descriptions[status] = text
    return {
        status: {"model": Problem, "description": descriptions[status]}
        for status in sorted(descriptions)
    }


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure of ``app`` in the problem shape, not only the routers' own:
    validation errors (422), HTTP errors such as unknown routes (404) and wrong methods
    (405), :class:`~dualid.DualIdError` raised by your own routes, and any unexpected
    exception (500, ``INTERNAL_ERROR``, logged; the exception still reaches the server's
    error reporting).

    The routers do not need it: their routes already answer in this shape.
    """

    async def on_dualid_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DualIdError)
        return problem_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in (204, 304):  # bodiless statuses raised as exceptions
            return Response(status_code=exc.status_code, headers=exc.headers)
        return http_problem(exc)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return internal_problem()

    app.add_exception_handler(DualIdError, on_dualid_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
