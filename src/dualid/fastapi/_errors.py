"""Errors over HTTP: the one place that maps dualid's errors to statuses and problem JSON.

Every failure the routers return has one shape (RFC 9457 "problem details", plus a stable
machine-readable ``code``)::

    {"type": "urn:dualid:problem:unknown-grant", "title": "Unknown grant", "status": 404,
     "code": "UNKNOWN_GRANT", "detail": "no such grant"}

with an optional ``fields`` list: the data fields a consent error names (camelCase), or the
request locations that failed validation (``body.phoneNumber``, ``query.limit``).

The status of a :class:`~dualid.DualIdError` is chosen by :data:`STATUS_BY_CODE`, looked up
along the class's MRO so a future subclass inherits its family's status:

=====================================================  ==========================
family / code                                          status
=====================================================  ==========================
``NOT_FOUND`` and every ``UNKNOWN_*``                  404
``CONFLICT``, ``ALREADY_EXISTS``,
``DUPLICATE_REGISTRATION``, ``GRANT_NOT_ACTIVE``,
``EVENT_TYPE_MISMATCH``                                409
``INVALID_INPUT``, ``INVALID_FIELD``,
``INVALID_EXPIRY``, ``INVALID_CHECKPOINT``,
``INVALID_WEBHOOK_URL``, ``VALIDATION_ERROR``          422
``WEBHOOK_VERIFICATION_FAILED`` (a receiver's own
route, :func:`dualid.webhooks.verify`)                 400
``CONSENT_REQUIRED``, ``FIELD_NOT_REQUESTED``          422 (the request is well formed
                                                       but asks for something the
                                                       consent rules forbid)
``KEY_DESTROYED``                                      410
``STORE_UNAVAILABLE``, ``SCHEMA_OUT_OF_DATE``,
``KEY_SERVICE_UNAVAILABLE``, ``CLOCK_ERROR``           503 (with ``Retry-After``)
configuration, key, crypto, audit and other errors,    500 ``INTERNAL_ERROR``
``CORRUPT_ROW`` (not 503: retrying cannot help)
=====================================================  ==========================

Server-side failures (5xx) never carry the SDK's message to the client: the body says only
what kind of failure it was, the details go to the ``dualid.fastapi`` logger.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dualid.errors import ConsentError, DualIdError
from dualid.models import DataField

__all__ = [
    "STATUS_BY_CODE",
    "ErrorCode",
    "ProblemError",
    "http_problem",
    "internal_problem",
    "problem_body",
    "problem_response",
    "status_for",
    "validation_problem",
]

log = logging.getLogger("dualid.fastapi")


class ErrorCode(enum.StrEnum):
    """Every ``code`` an HTTP error body can carry. Stable: codes are added, never renamed
    or removed within a major version of the HTTP API."""

    # From the SDK (dualid.errors); the 5xx ones are reported as INTERNAL_ERROR.
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_FIELD = "INVALID_FIELD"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    INVALID_CHECKPOINT = "INVALID_CHECKPOINT"
    INVALID_WEBHOOK_URL = "INVALID_WEBHOOK_URL"
    WEBHOOK_VERIFICATION_FAILED = "WEBHOOK_VERIFICATION_FAILED"
    NOT_FOUND = "NOT_FOUND"
    UNKNOWN_AGENT = "UNKNOWN_AGENT"
    UNKNOWN_HOST = "UNKNOWN_HOST"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    UNKNOWN_GRANT = "UNKNOWN_GRANT"
    UNKNOWN_REGISTRATION = "UNKNOWN_REGISTRATION"
    UNKNOWN_WEBHOOK = "UNKNOWN_WEBHOOK"
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    DUPLICATE_REGISTRATION = "DUPLICATE_REGISTRATION"
    GRANT_NOT_ACTIVE = "GRANT_NOT_ACTIVE"
    CONSENT_ERROR = "CONSENT_ERROR"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    FIELD_NOT_REQUESTED = "FIELD_NOT_REQUESTED"
    KEY_DESTROYED = "KEY_DESTROYED"
    KEY_SERVICE_UNAVAILABLE = "KEY_SERVICE_UNAVAILABLE"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    SCHEMA_OUT_OF_DATE = "SCHEMA_OUT_OF_DATE"
    CLOCK_ERROR = "CLOCK_ERROR"
    # Of the HTTP layer.
    UNKNOWN_REQUIREMENT = "UNKNOWN_REQUIREMENT"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    HTTP_ERROR = "HTTP_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# The one mapping from SDK error codes to HTTP statuses (see the module docstring).
STATUS_BY_CODE: Final[Mapping[str, int]] = {
    "DUALID_ERROR": 500,
    "CONFIGURATION_ERROR": 500,
    "MISSING_KEY": 500,
    "INVALID_INPUT": 422,
    "INVALID_FIELD": 422,
    "INVALID_EXPIRY": 422,
    "INVALID_CHECKPOINT": 422,
    "INVALID_WEBHOOK_URL": 422,
    "WEBHOOK_VERIFICATION_FAILED": 400,
    "NOT_FOUND": 404,
    "UNKNOWN_AGENT": 404,
    "UNKNOWN_HOST": 404,
    "UNKNOWN_EVENT": 404,
    "UNKNOWN_GRANT": 404,
    "UNKNOWN_REGISTRATION": 404,
    "UNKNOWN_WEBHOOK": 404,
    "CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "DUPLICATE_REGISTRATION": 409,
    "EVENT_TYPE_MISMATCH": 409,
    "GRANT_NOT_ACTIVE": 409,
    "CONSENT_ERROR": 422,
    "CONSENT_REQUIRED": 422,
    "FIELD_NOT_REQUESTED": 422,
    "CRYPTO_ERROR": 500,
    "DECRYPTION_FAILED": 500,
    "KEY_DESTROYED": 410,
    "KEY_SERVICE_UNAVAILABLE": 503,
    "STORE_ERROR": 500,
    "STORE_UNAVAILABLE": 503,
    "SCHEMA_OUT_OF_DATE": 503,
    # A row the SDK cannot read stays unreadable: not a 503 a client would retry.
    "CORRUPT_ROW": 500,
    "AUDIT_ERROR": 500,
    "CLOCK_ERROR": 503,
}

# What a client may learn about a server-side failure: the code (when it helps the client
# decide to retry) and a fixed message; never the SDK's own message.
_SERVER_DETAIL: Final[Mapping[int, str]] = {
    500: "internal error; the server log has the details",
    503: "the service is temporarily unavailable; retry later",
}
_PUBLIC_5XX_CODES: Final = frozenset(
    {"STORE_UNAVAILABLE", "SCHEMA_OUT_OF_DATE", "KEY_SERVICE_UNAVAILABLE", "CLOCK_ERROR"}
)
# Every 503 says when to come back (RFC 9110 section 10.2.3), in seconds.
_RETRY_AFTER_SECONDS: Final = 2

_HTTP_CODES: Final[Mapping[int, ErrorCode]] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    422: ErrorCode.VALIDATION_ERROR,
}


class ProblemError(Exception):
    """An HTTP-layer failure in the problem shape (raised inside the routers for things the
    SDK has no error for, such as a missing requirement)."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        detail: str,
        *,
        fields: Sequence[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = list(fields) if fields is not None else None
        self.headers = dict(headers or {})


def status_for(exc: DualIdError) -> int:
    """The HTTP status of an SDK error (the closest mapped class along its MRO)."""
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in STATUS_BY_CODE:
            return STATUS_BY_CODE[code]
    return 500


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def problem_body(
    status: int, code: str, detail: str, fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """The problem-details document (``fields`` only when given)."""
    body: dict[str, Any] = {
        "type": "urn:dualid:problem:" + code.lower().replace("_", "-"),
        "title": _title(code),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if fields is not None:
        body["fields"] = list(fields)
    return body


def _response(
    status: int,
    code: str,
    detail: str,
    fields: Iterable[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, fields),
        status_code=status,
        headers=dict(headers) if headers else None,
    )


def _field_alias(name: str) -> str:
    try:
        return DataField.parse(name).alias
    except ValueError:
        return name


def problem_response(exc: DualIdError | ProblemError) -> JSONResponse:
    """The problem response for an SDK error (or a :class:`ProblemError`)."""
    if isinstance(exc, ProblemError):
        return _response(exc.status, exc.code, exc.detail, exc.fields, exc.headers)
    status = status_for(exc)
    if status >= 500:
        # Log the class and code only: the routers' callers must not be able to put
        # anything of theirs in the server log through an error message.
        log.error("dualid error %s (%s) answered %d", type(exc).__name__, exc.code, status)
        code = exc.code if exc.code in _PUBLIC_5XX_CODES else ErrorCode.INTERNAL_ERROR.value
        headers = {"Retry-After": str(_RETRY_AFTER_SECONDS)} if status == 503 else None
        return _response(
            status, code, _SERVER_DETAIL.get(status, _SERVER_DETAIL[500]), None, headers
        )
    fields = None
    if isinstance(exc, ConsentError):
        fields = [_field_alias(str(f)) for f in getattr(exc, "fields", ())]
    elif "field" in exc.details:
        fields = [_field_alias(str(exc.details["field"]))]
    return _response(status, exc.code, exc.message, fields)


def _location(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    """422 for a request FastAPI could not validate. Only the failing locations and error
    types are reported: pydantic's messages and inputs can echo what the caller sent, and
    that may be personal data."""
    locations = list(dict.fromkeys(_location(e.get("loc", ())) for e in exc.errors()))
    kinds = sorted({str(e.get("type", "invalid")) for e in exc.errors()})
    detail = f"the request is invalid ({', '.join(kinds)})"
    return _response(422, ErrorCode.VALIDATION_ERROR, detail, locations)


def http_problem(exc: HTTPException) -> JSONResponse:
    """An HTTP exception (from an authentication dependency, or routing) as a problem."""
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    detail = exc.detail if isinstance(exc.detail, str) else _title(code.value)
    if exc.status_code >= 500:
        code, detail = ErrorCode.INTERNAL_ERROR, _SERVER_DETAIL[500]
    return _response(exc.status_code, code, detail, headers=exc.headers)


def internal_problem() -> JSONResponse:
    return _response(500, ErrorCode.INTERNAL_ERROR, _SERVER_DETAIL[500])
