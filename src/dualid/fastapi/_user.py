"""The person-facing router: the "data sharing settings" API.

No ``from __future__ import annotations`` here: FastAPI reads the endpoint signatures at
import time, and the dependencies they name are local to the factory.
"""

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import ValidationError

from dualid import consent
from dualid.errors import UnknownAgent, UnknownGrant, UnknownRegistration
from dualid.models import DataField, EventType, EventUserData
from dualid.sdk import EXPORT_FORMAT, DualId

from ._errors import ErrorCode, ProblemError
from ._paging import PageQuery, page_query
from ._routing import DEFAULT_MAX_BODY_BYTES, problem_responses, route_class
from ._schemas import (
    EVENT_ID_PATTERN,
    HOST_ID_PATTERN,
    Default,
    DefaultList,
    DefaultUpdate,
    Export,
    FieldExplanation,
    Grant,
    GrantRequest,
    HistoryEntry,
    HistoryPage,
    HostNotice,
    Profile,
    Registration,
    RegistrationExplanation,
    RegistrationList,
    RegistrationRequest,
    RevokeResult,
    SharedItem,
    Sharing,
    data_fields,
    field_names,
)

__all__ = ["user_router"]

HISTORY_LIMIT_MAX = 500
# Audit seqs are BIGINT: a cursor past this names no entry and would overflow the query.
_SEQ_MAX = 2**63 - 1
_AGENT_ID = re.compile(r"agt_[a-z2-7]{8,}")


class _Person:
    """The caller: their userId and, once they have one, their agentId.

    Routes never create the agentId themselves: a write that may be a person's first
    calls the SDK's ``*_user`` method, which creates it inside the write's own
    transaction, so a refused request provisions nothing (P9)."""

    def __init__(self, sdk: DualId, user_id: str) -> None:
        self.user_id = user_id
        self.agent_id = sdk.identity.lookup(user_id)


def _user_data(body: Profile) -> EventUserData:
    try:
        return body.to_user_data()
    except ValidationError as exc:
        fields = sorted({DataField.parse(str(e["loc"][0])).alias for e in exc.errors()})
        raise ProblemError(
            422, ErrorCode.INVALID_FIELD, "invalid personal data", fields=fields
        ) from None


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"h{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raw = ""
    digits = raw[1:]
    if not raw.startswith("h") or not digits.isdigit() or len(raw) > 20 or int(digits) > _SEQ_MAX:
        raise ProblemError(422, ErrorCode.INVALID_INPUT, "invalid cursor")
    return int(digits)


def _scrub(value: Any) -> Any:
    """Drop anything that looks like an agentId (P1), whatever the SDK recorded."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _is_agent(v)}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value if not _is_agent(v)]
    return value


def _is_agent(value: Any) -> bool:
    return isinstance(value, str) and _AGENT_ID.search(value) is not None


def _empty_export(sdk: DualId) -> dict[str, Any]:
    """The export of a person dualid holds nothing about: the document of
    :meth:`DualId.export` with every part empty (a test keeps the two in step)."""
    reading = sdk.clock.now()
    return {
        "format": EXPORT_FORMAT,
        "exportedAt": reading.time.isoformat(),
        "clock": {
            "status": reading.status.value,
            "uncertaintyMs": reading.uncertainty / timedelta(milliseconds=1),
        },
        "profile": None,
        "hosts": [],
        "registrations": [],
        "grants": [],
        "defaults": [],
        "history": [],
        "receipts": [],
    }


def user_router(
    sdk: DualId,
    *,
    authenticate_user: Callable[..., Any],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> APIRouter:
    """The routes a person's settings backend calls, as an :class:`~fastapi.APIRouter`:
    ``app.include_router(user_router(sdk, authenticate_user=dep), prefix="/v1")``.

    ``authenticate_user`` is a FastAPI dependency (sync or async) that returns the calling
    person's userId, or raises ``HTTPException(401)``. The router maps it to the agentId
    itself; no response, header or error ever carries an agentId. A person asking for
    another person's grant gets 404, exactly as for a grant that does not exist.

    Routes: ``GET|PUT /me/profile``, ``GET /me/sharing``, ``GET|POST /me/registrations``,
    ``DELETE /me/registrations/{registration_id}``,
    ``GET /me/registrations/{registration_id}/explain``, ``POST /me/grants``,
    ``DELETE /me/grants/{grant_id}``, ``GET /me/grants/{grant_id}/receipt``,
    ``DELETE /me/hosts/{host_id}/grants``,
    ``DELETE /me/hosts/{host_id}/events/{event_id}/grants``, ``GET /me/defaults``,
    ``PUT /me/defaults/{event_type}``, ``GET /me/history``, ``GET /me/export``,
    ``DELETE /me``.

    .. versionchanged:: 0.2.0
       ``DELETE /me/registrations/{registration_id}``, ``GET .../explain``,
       ``DELETE /me/hosts/{host_id}/events/{event_id}/grants`` and ``GET /me/export``.
    """
    router = APIRouter(route_class=route_class(max_body_bytes), tags=["me"])

    def current_person(user_id: Annotated[str, Depends(authenticate_user)]) -> _Person:
        return _Person(sdk, user_id)

    Caller = Annotated[_Person, Depends(current_person)]
    history_page = page_query(cursor_length=64, limit_max=HISTORY_LIMIT_MAX, limit=100)
    HostIdPath = Annotated[str, Path(pattern=HOST_ID_PATTERN, max_length=64)]
    GrantIdPath = Annotated[str, Path(max_length=64)]
    EventIdPath = Annotated[str, Path(pattern=EVENT_ID_PATTERN, max_length=128)]
    RegistrationIdPath = Annotated[str, Path(max_length=64)]

    def own_registration(person: _Person, registration_id: str) -> tuple[str, consent.Registration]:
        """The caller's agentId and one of their registrations. Another person's id is
        answered exactly like an id that does not exist: the lookup only ever sees the
        caller's own."""
        agent_id = person.agent_id
        if agent_id is not None:
            for reg in sdk.events.registrations(agent_id):
                if reg.id == registration_id:
                    return agent_id, reg
        raise UnknownRegistration("no such registration")

    # -- profile ---------------------------------------------------------------------------
    @router.get(
        "/me/profile",
        response_model=Profile,
        operation_id="getProfile",
        summary="The person's stored personal data",
        responses=problem_responses(),
    )
    def get_profile(person: Caller) -> Profile:
        if person.agent_id is None:
            return Profile()
        return Profile.of(sdk.profiles.get(person.agent_id))

    @router.put(
        "/me/profile",
        response_model=Profile,
        operation_id="putProfile",
        summary="Replace the person's stored personal data",
        description="Fields left out or null are removed. Phones are stored as E.164.",
        responses=problem_responses(
            {422: "INVALID_FIELD: a value failed validation (`fields` names it)."}, body=True
        ),
    )
    def put_profile(person: Caller, body: Profile) -> Profile:
        data = _user_data(body)
        sdk.profiles.put_user(person.user_id, data)
        return Profile.of(data)

    # -- what is shared ----------------------------------------------------------------------
    @router.get(
        "/me/sharing",
        response_model=Sharing,
        operation_id="getSharing",
        summary="What is shared with whom, since when and until when",
        responses=problem_responses(),
    )
    def get_sharing(person: Caller) -> Sharing:
        if person.agent_id is None:
            return Sharing(items=[])
        return Sharing(items=[SharedItem.of(s) for s in sdk.consent.shared(person.agent_id)])

    # -- registrations -------------------------------------------------------------------------
    @router.post(
        "/me/registrations",
        response_model=Registration,
        status_code=201,
        operation_id="createRegistration",
        summary="Register for an event and share data with its host",
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: no such host.",
                409: "DUPLICATE_REGISTRATION: already registered for this event.",
                422: "CONSENT_REQUIRED: required fields not shared or without a value; "
                "FIELD_NOT_REQUESTED: the host did not ask for these fields (`fields` "
                "names them); INVALID_FIELD, INVALID_EXPIRY, INVALID_INPUT.",
            },
            body=True,
        ),
    )
    def create_registration(person: Caller, body: RegistrationRequest) -> Registration:
        data = _user_data(body.data) if body.data is not None else None
        reg = sdk.events.register_user(
            person.user_id,
            body.host_id,
            body.event_type,
            body.event_id,
            share=data_fields(body.share) if body.share is not None else None,
            data=data,
            purpose=body.purpose,
            expires_at=body.expires_at,
        )
        return Registration.of(reg)

    @router.get(
        "/me/registrations",
        response_model=RegistrationList,
        operation_id="listRegistrations",
        summary="The person's registrations, oldest first, with what each shares now",
        responses=problem_responses(),
    )
    def list_registrations(person: Caller) -> RegistrationList:
        if person.agent_id is None:
            return RegistrationList(items=[])
        regs = sdk.events.registrations(person.agent_id)
        return RegistrationList(items=[Registration.of(r) for r in regs])

    @router.delete(
        "/me/registrations/{registration_id}",
        status_code=204,
        response_class=Response,
        operation_id="cancelRegistration",
        summary="Cancel one of the person's registrations",
        description=(
            "Its grants are revoked and the data shared with the host for it is deleted; "
            "the host no longer lists the person. Grants for every event of the host stay."
        ),
        responses=problem_responses(
            {404: "UNKNOWN_REGISTRATION: no such registration of this person."}
        ),
    )
    def cancel_registration(person: Caller, registration_id: RegistrationIdPath) -> Response:
        agent_id, reg = own_registration(person, registration_id)
        try:
            sdk.events.cancel(agent_id, reg.host_id, reg.event_id)
        except UnknownAgent:  # erased meanwhile: the registration is gone with the person
            raise UnknownRegistration("no such registration") from None
        return Response(status_code=204)

    @router.get(
        "/me/registrations/{registration_id}/explain",
        response_model=RegistrationExplanation,
        operation_id="explainRegistration",
        summary="Why the host sees, or does not see, each field of the person",
        description=(
            "One answer per data field: whether the host sees it for this registration's "
            "event and why (the grant, the requirement, or the missing piece)."
        ),
        responses=problem_responses(
            {404: "UNKNOWN_REGISTRATION: no such registration of this person."}
        ),
    )
    def explain_registration(
        person: Caller, registration_id: RegistrationIdPath
    ) -> RegistrationExplanation:
        agent_id, reg = own_registration(person, registration_id)
        answers = [
            sdk.consent.explain(agent_id, reg.host_id, reg.event_id, field) for field in DataField
        ]
        if any(a.reason == "not_registered" for a in answers):  # cancelled meanwhile
            raise UnknownRegistration("no such registration")
        return RegistrationExplanation(
            registration_id=reg.id,
            host_id=reg.host_id,
            event_type=reg.event_type,
            event_id=reg.event_id,
            items=[FieldExplanation.of(a) for a in answers],
        )

    # -- grants --------------------------------------------------------------------------------
    @router.post(
        "/me/grants",
        response_model=Grant,
        status_code=201,
        operation_id="createGrant",
        summary="Consent to share fields with a host",
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: no such host; UNKNOWN_REGISTRATION: `eventId` given "
                "but the person is not registered for it.",
                422: "FIELD_NOT_REQUESTED: the host did not ask for these fields; "
                "INVALID_EXPIRY, INVALID_INPUT.",
            },
            body=True,
        ),
    )
    def create_grant(person: Caller, body: GrantRequest) -> Grant:
        grant = sdk.consent.grant_user(
            person.user_id,
            body.host_id,
            fields=data_fields(body.fields),
            event_id=body.event_id,
            event_type=body.event_type,
            purpose=body.purpose,
            expires_at=body.expires_at,
        )
        return Grant.of(grant)

    @router.delete(
        "/me/grants/{grant_id}",
        response_model=Grant,
        operation_id="revokeGrant",
        summary="Withdraw one grant, now",
        responses=problem_responses(
            {
                404: "UNKNOWN_GRANT: no such grant of this person.",
                409: "GRANT_NOT_ACTIVE: already revoked, or expired.",
            }
        ),
    )
    def revoke_grant(person: Caller, grant_id: GrantIdPath) -> Grant:
        if person.agent_id is None:
            raise UnknownGrant("no such grant")
        return Grant.of(sdk.consent.revoke(grant_id, agent_id=person.agent_id))

    @router.get(
        "/me/grants/{grant_id}/receipt",
        operation_id="getReceipt",
        summary="A signed consent receipt for one of the person's grants",
        description=(
            "A JSON document signed with Ed25519 (`signature`); it names the person by the "
            "host's pairwise ref, never by an internal id, so it can be handed to the host."
        ),
        response_model=dict[str, Any],
        responses=problem_responses({404: "UNKNOWN_GRANT: no such grant of this person."}),
    )
    def get_receipt(person: Caller, grant_id: GrantIdPath) -> Response:
        if person.agent_id is None:
            raise UnknownGrant("no such grant")
        receipt = sdk.consent.receipt(grant_id, agent_id=person.agent_id)
        # Sent byte for byte as signed; a response model must not reshape it.
        return Response(json.dumps(receipt, ensure_ascii=False), media_type="application/json")

    @router.delete(
        "/me/hosts/{host_id}/grants",
        response_model=RevokeResult,
        operation_id="revokeHostGrants",
        summary="Withdraw everything shared with one host",
        responses=problem_responses({404: "UNKNOWN_HOST: no such host."}),
    )
    def revoke_host(person: Caller, host_id: HostIdPath) -> RevokeResult:
        if person.agent_id is None:
            sdk.hosts.get(host_id)
            return RevokeResult(revoked=0)
        return RevokeResult(revoked=sdk.consent.revoke_host(person.agent_id, host_id))

    @router.delete(
        "/me/hosts/{host_id}/events/{event_id}/grants",
        response_model=RevokeResult,
        operation_id="revokeEventGrants",
        summary="Withdraw everything shared for one event",
        description=(
            "The event's grants end and the data shared for it is deleted; the person stays "
            "registered, and grants for every event of the host stay in force for the others."
        ),
        responses=problem_responses(
            {
                404: "UNKNOWN_HOST: no such host; UNKNOWN_REGISTRATION: the person is not "
                "registered for this event."
            }
        ),
    )
    def revoke_event(person: Caller, host_id: HostIdPath, event_id: EventIdPath) -> RevokeResult:
        sdk.hosts.get(host_id)
        if person.agent_id is None:
            raise UnknownRegistration("not registered for this event")
        try:
            revoked = sdk.consent.revoke_event(person.agent_id, host_id, event_id)
        except UnknownAgent:  # erased meanwhile
            raise UnknownRegistration("not registered for this event") from None
        return RevokeResult(revoked=revoked)

    # -- defaults ------------------------------------------------------------------------------
    @router.get(
        "/me/defaults",
        response_model=DefaultList,
        operation_id="listDefaults",
        summary="The person's default shares, per event type and per host",
        responses=problem_responses(),
    )
    def list_defaults(person: Caller) -> DefaultList:
        if person.agent_id is None:
            return DefaultList(items=[])
        found = sdk.consent.defaults(person.agent_id)
        ordered = sorted(found.items(), key=lambda kv: (kv[0][0].value, kv[0][1] or ""))
        return DefaultList(
            items=[
                Default(event_type=etype, host_id=host_id, fields=field_names(fields))
                for (etype, host_id), fields in ordered
            ]
        )

    @router.put(
        "/me/defaults/{event_type}",
        response_model=Default,
        operation_id="putDefault",
        summary="What to share by default when registering for an event type",
        responses=problem_responses({404: "UNKNOWN_HOST: `hostId` names no host."}, body=True),
    )
    def put_default(person: Caller, event_type: EventType, body: DefaultUpdate) -> Default:
        fields = data_fields(body.fields)
        sdk.consent.set_default_user(person.user_id, event_type, fields, host_id=body.host_id)
        return Default(event_type=event_type, host_id=body.host_id, fields=field_names(set(fields)))

    # -- history ------------------------------------------------------------------------------
    @router.get(
        "/me/history",
        response_model=HistoryPage,
        operation_id="getHistory",
        summary="The person's audit trail, oldest first, page by page",
        responses=problem_responses({422: "INVALID_INPUT: a bad cursor."}),
    )
    def get_history(
        person: Caller, asked: Annotated[PageQuery, Depends(history_page)]
    ) -> HistoryPage:
        after = 0 if asked.cursor is None else _decode_cursor(asked.cursor)
        if person.agent_id is None:
            return HistoryPage(items=[], next_cursor=None)
        records = sdk.consent.history(person.agent_id, after=after, limit=asked.limit + 1)
        more = len(records) > asked.limit
        records = records[: asked.limit]
        items = [
            HistoryEntry(
                action=r.action,
                at=r.at,
                host_id=r.host_id,
                actor=r.actor,
                details=_scrub(dict(r.details)),
                entry_hash=r.entry_hash,
                notices=[HostNotice.of(n) for n in r.notices],
            )
            for r in records
        ]
        next_cursor = _encode_cursor(records[-1].seq) if more else None
        return HistoryPage(items=items, next_cursor=next_cursor)

    # -- the export ---------------------------------------------------------------------------
    @router.get(
        "/me/export",
        response_model=Export,
        operation_id="exportMe",
        summary="Everything held about the person, in one document (GDPR Art. 15 and 20)",
        description=(
            "Profile, registrations, grants active and past, defaults, the audit trail and a "
            "signed receipt per grant, as `sdk.export()` returns it; no agentId. The export "
            "is recorded in the person's history (`agent.exported`). A person with nothing "
            "stored gets the same document with every part empty, and nothing is created."
        ),
        responses=problem_responses(),
    )
    def export_me(person: Caller) -> Response:
        doc = None
        if person.agent_id is not None:
            # Erased concurrently: nothing is held any more.
            with contextlib.suppress(UnknownAgent):
                doc = sdk.export(person.agent_id)
        if doc is None:
            doc = _empty_export(sdk)
        # Sent as built: a response model would reformat its times, and the receipts in it
        # stay exactly as signed.
        return Response(json.dumps(doc, ensure_ascii=False), media_type="application/json")

    # -- erasure -------------------------------------------------------------------------------
    @router.delete(
        "/me",
        status_code=204,
        response_class=Response,
        operation_id="eraseMe",
        summary="Erase the person (crypto-shredding)",
        description=(
            "Destroys the person's data key and deletes their profile, registrations, "
            "grants and defaults; hosts stop seeing them at once. Idempotent: a person with "
            "nothing stored gets 204 too."
        ),
        responses=problem_responses(),
    )
    def erase_me(person: Caller) -> Response:
        if person.agent_id is not None:
            # Erased concurrently (UnknownAgent) is the outcome asked for.
            with contextlib.suppress(UnknownAgent):
                sdk.erase(person.agent_id)
        return Response(status_code=204)

    return router
