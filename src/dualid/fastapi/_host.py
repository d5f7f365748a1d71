"""The host-facing router: who the host is, what it asks for, and who attends.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint signatures at
import time, and the dependency they name is local to the factory.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from dualid.models import EventType
from dualid.sdk import DualId

from ._errors import ErrorCode, ProblemError
from ._routing import DEFAULT_MAX_BODY_BYTES, problem_responses, route_class
from ._schemas import (
    EVENT_ID_PATTERN,
    AttendeePage,
    Host,
    Requirement,
    RequirementUpdate,
    attendee_page_json,
    data_fields,
)

__all__ = ["host_router"]

PAGE_LIMIT_MAX = 1000


def host_router(
    sdk: DualId,
    *,
    authenticate_host: Callable[..., Any],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """The routes a host calls, as an :class:`~fastapi.APIRouter` to mount with your own
    prefix: ``app.include_router(host_router(sdk, authenticate_host=dep), prefix="/v1")``.

    ``authenticate_host`` is a FastAPI dependency (sync or async, with any parameters of
    its own) that returns the calling host's id, or raises ``HTTPException(401)``. The
    routes never take the caller's identity from the path or body. Every failure is a
    problem document with a stable ``code`` (see :mod:`dualid.fastapi`).

    Routes: ``GET /hosts/me``, ``GET|PUT /hosts/me/requirements/{event_type}``,
    ``GET /hosts/me/events/{event_id}/attendees``.
    """
    router = APIRouter(route_class=route_class(max_body_bytes), tags=["hosts"])
    CallerHost = Annotated[str, Depends(authenticate_host)]

    @router.get(
        "/hosts/me",
        response_model=Host,
        operation_id="getHost",
        summary="The calling host and its requirements",
        responses=problem_responses({404: "UNKNOWN_HOST: the host is not registered."}),
    )
    def get_host(host_id: CallerHost) -> Host:
        host = sdk.hosts.get(host_id)
        return Host.of(host, sdk.hosts.requirements(host_id))

    @router.get(
        "/hosts/me/requirements/{event_type}",
        response_model=Requirement,
        operation_id="getRequirement",
        summary="What the host asks for, for one event type",
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: the host is not registered; UNKNOWN_REQUIREMENT: it "
                "declared nothing for this event type."
            }
        ),
    )
    def get_requirement(host_id: CallerHost, event_type: EventType) -> Requirement:
        req = sdk.hosts.requirement(host_id, event_type)
        if req is None:
            raise ProblemError(
                404,
                ErrorCode.UNKNOWN_REQUIREMENT,
                "the host declared no requirement for this event type",
            )
        return Requirement.of(req)

    @router.put(
        "/hosts/me/requirements/{event_type}",
        response_model=Requirement,
        operation_id="putRequirement",
        summary="Declare (or replace) what the host needs for one event type",
        description=(
            "A host only ever receives declared fields (data minimisation). A field both "
            "required and optional counts as required."
        ),
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: the host is not registered.",
                422: "INVALID_INPUT: a bad purpose.",
            },
            body=True,
        ),
    )
    def put_requirement(
        host_id: CallerHost, event_type: EventType, body: RequirementUpdate
    ) -> Requirement:
        req = sdk.hosts.require(
            host_id,
            event_type,
            required=data_fields(body.required),
            optional=data_fields(body.optional),
            purpose=body.purpose,
        )
        return Requirement.of(req)

    @router.get(
        "/hosts/me/events/{event_id}/attendees",
        response_model=AttendeePage,
        operation_id="listAttendees",
        summary="The attendees of one of the host's events, page by page",
        description=(
            "Each attendee is a pairwise `ref` (stable at this host, unlinkable across "
            "hosts) with only the fields the person currently consents to share with this "
            "host for this event, in a stable order. Follow `nextCursor` until it is null. "
            "Every page read is recorded in the audit trail."
        ),
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: the host is not registered; UNKNOWN_EVENT: the host "
                "has no such event (another host's event looks the same).",
                422: "INVALID_INPUT: a bad cursor.",
            }
        ),
    )
    def list_attendees(
        host_id: CallerHost,
        event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN, max_length=128)],
        cursor: Annotated[
            str | None, Query(max_length=200, description="From the previous page.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_LIMIT_MAX)] = 100,
    ) -> Response:
        page = sdk.events.attendees_page(host_id, event_id, cursor=cursor or None, limit=limit)
        content = attendee_page_json(page.items, page.next_cursor)
        return Response(content, media_type="application/json")

    return router
