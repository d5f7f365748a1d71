"""The host-facing router: who the host is, what it asks for, and who attends.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint signatures at
import time, and the dependency they name is local to the factory.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from dualid.models import EventType
from dualid.sdk import DualId

from ._errors import ErrorCode, ProblemError
from ._paging import PageQuery, page_query
from ._routing import DEFAULT_MAX_BODY_BYTES, problem_responses, route_class
from ._schemas import (
    EVENT_ID_PATTERN,
    AttendeePage,
    DeliveryPage,
    Host,
    Requirement,
    RequirementUpdate,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookUpdate,
    data_fields,
)

__all__ = ["host_router"]

PAGE_LIMIT_MAX = 1000
DELIVERIES_LIMIT_MAX = 500


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
    ``GET /hosts/me/events/{event_id}/attendees``, ``GET|PUT|DELETE /hosts/me/webhook``,
    ``POST /hosts/me/webhook/secret``, ``GET /hosts/me/webhook/deliveries``.

    .. versionchanged:: 0.2.0 the webhook routes.
    """
    router = APIRouter(route_class=route_class(max_body_bytes), tags=["hosts"])
    CallerHost = Annotated[str, Depends(authenticate_host)]
    deliveries_page = page_query(cursor_length=40, limit_max=DELIVERIES_LIMIT_MAX, limit=50)

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
        content = sdk.events.attendees_page_json(
            host_id, event_id, cursor=cursor or None, limit=limit
        )
        return Response(content, media_type="application/json")

    # -- webhooks ----------------------------------------------------------------------------
    unknown_webhook = {404: "UNKNOWN_HOST; UNKNOWN_WEBHOOK: the host has no webhook endpoint."}

    @router.get(
        "/hosts/me/webhook",
        response_model=WebhookEndpoint,
        operation_id="getWebhook",
        summary="The host's webhook endpoint and the public keys of its signatures",
        responses=problem_responses(unknown_webhook),
    )
    def get_webhook(host_id: CallerHost) -> WebhookEndpoint:
        return WebhookEndpoint.of(sdk.hosts.webhook(host_id))

    @router.put(
        "/hosts/me/webhook",
        response_model=WebhookEndpoint,
        operation_id="putWebhook",
        summary="Receive signed notices of consent changes at a URL",
        description=(
            "Creates the endpoint (the response carries its signing `secret`, shown once) or "
            "changes its URL (the secret stays; a disabled endpoint is enabled again). "
            "Notices follow the Standard Webhooks specification: see docs/webhooks.md."
        ),
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: the host is not registered.",
                422: "INVALID_WEBHOOK_URL: not https, carries credentials, or names a "
                "loopback or private address.",
            },
            body=True,
        ),
    )
    def put_webhook(host_id: CallerHost, body: WebhookUpdate) -> WebhookEndpoint:
        return WebhookEndpoint.of(sdk.hosts.set_webhook(host_id, body.url))

    @router.delete(
        "/hosts/me/webhook",
        status_code=204,
        response_class=Response,
        operation_id="deleteWebhook",
        summary="Stop receiving notices",
        description="Undelivered notices are given up (status `failed`).",
        responses=problem_responses(unknown_webhook),
    )
    def delete_webhook(host_id: CallerHost) -> Response:
        sdk.hosts.remove_webhook(host_id)
        return Response(status_code=204)

    @router.post(
        "/hosts/me/webhook/secret",
        response_model=WebhookEndpoint,
        operation_id="rotateWebhookSecret",
        summary="A new signing secret (shown once); the old one keeps signing for a while",
        responses=problem_responses(unknown_webhook),
    )
    def rotate_webhook_secret(
        host_id: CallerHost,
        keep_previous_hours: Annotated[
            int,
            Query(
                alias="keepPreviousHours",
                ge=0,
                le=720,
                description="How long notices carry the previous key's signatures too.",
            ),
        ] = 24,
    ) -> WebhookEndpoint:
        endpoint = sdk.hosts.rotate_webhook_secret(
            host_id, keep_previous_for=timedelta(hours=keep_previous_hours)
        )
        return WebhookEndpoint.of(endpoint)

    @router.get(
        "/hosts/me/webhook/deliveries",
        response_model=DeliveryPage,
        operation_id="listWebhookDeliveries",
        summary="The host's notices, newest first, and how their delivery went",
        responses=problem_responses(
            {404: "UNKNOWN_HOST: the host is not registered.", 422: "INVALID_INPUT: a bad cursor."}
        ),
    )
    def list_webhook_deliveries(
        host_id: CallerHost, asked: Annotated[PageQuery, Depends(deliveries_page)]
    ) -> DeliveryPage:
        page = sdk.hosts.webhook_deliveries(host_id, cursor=asked.cursor, limit=asked.limit)
        return DeliveryPage(
            items=[WebhookDelivery.of(d) for d in page.items], next_cursor=page.next_cursor
        )

    return router
