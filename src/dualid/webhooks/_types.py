"""Value objects of the webhooks: endpoints, deliveries as hosts see them, notices as the
person sees them, and the report of a delivery run."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "RETRY_SCHEDULE",
    "Delivery",
    "DeliveryPage",
    "DeliveryReport",
    "HostNotice",
    "NoticeStatus",
    "NoticeType",
    "WebhookEndpoint",
]

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
"""The delays between attempts after a failure (the Standard Webhooks example schedule:
the first attempt at once, the last about 75 hours later), each with random jitter. After
the last one fails the notice is given up (``failed``)."""


class NoticeType(enum.StrEnum):
    """What a notice tells the host (its payload's ``type``)."""

    CONSENT_GRANTED = "consent.granted"
    CONSENT_REVOKED = "consent.revoked"
    CONSENT_EXPIRED = "consent.expired"
    REGISTRATION_CANCELLED = "registration.cancelled"
    PERSON_ERASED = "person.erased"


class NoticeStatus(enum.StrEnum):
    """Where a notice stands: ``pending`` (not delivered yet, maybe retrying),
    ``delivered`` (the host answered 2xx) or ``failed`` (given up after the retry
    schedule, or the endpoint answered 410 Gone or was removed first)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class WebhookEndpoint:
    """A host's webhook endpoint. ``secret`` (``whsec_...``, for the ``v1`` HMAC
    signatures) is set only on the object that creating the endpoint or rotating its
    secret returns: it is shown once. ``public_keys`` (``whpk_...``, for the ``v1a``
    Ed25519 signatures) lists the current key first and, during a rotation's grace
    period (until ``previous_valid_until``), the previous one; notices are signed with
    both meanwhile. ``enabled`` is False once the endpoint answered 410 Gone
    (``disabled_at``, ``disabled_reason``); setting the URL again enables it.

    .. versionadded:: 0.2.0
    """

    # The HTTP schema (dualid.fastapi: WebhookEndpoint) is derived from these fields, in
    # this order, without host_id.
    host_id: str
    url: str
    enabled: bool
    public_keys: tuple[str, ...]
    previous_valid_until: datetime | None = None
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    secret: str | None = None

    def __repr__(self) -> str:
        shown = "<hidden>" if self.secret is not None else None
        return (
            f"WebhookEndpoint(host_id={self.host_id!r}, url={self.url!r}, "
            f"enabled={self.enabled}, secret={shown})"
        )


@dataclass(frozen=True)
class Delivery:
    """One notice as the host sees it in its delivery list: ``id`` (the ``webhook-id``),
    ``type``, its ``payload`` (the JSON body, exactly as sent), ``status``, ``attempts``
    so far, the last attempt's time, HTTP status (None when no response came) and error,
    when the next attempt is due (pending notices) and when it was delivered.

    .. versionadded:: 0.2.0
    """

    id: str
    type: str
    status: NoticeStatus
    created_at: datetime
    attempts: int
    payload_json: str
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @property
    def payload(self) -> Any:
        return json.loads(self.payload_json)


@dataclass(frozen=True)
class DeliveryPage:
    """A page of a host's deliveries, newest first; ``next_cursor`` for the older ones."""

    items: list[Delivery]
    next_cursor: str | None


@dataclass(frozen=True)
class HostNotice:
    """What the person sees of one notice to a host: which host, what it was told
    (``type``), and whether (``status``) and when (``delivered_at``) the host received
    it. Attached to the history entries and shared items it belongs to.

    .. versionadded:: 0.2.0
    """

    id: str
    host_id: str
    type: str
    status: NoticeStatus
    created_at: datetime
    delivered_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class DeliveryReport:
    """What one :meth:`Webhooks.deliver_pending <dualid.webhooks.Webhooks.deliver_pending>`
    run did: ``attempted`` deliveries, of which ``delivered`` succeeded, ``retrying``
    failed and were scheduled again, ``failed`` were given up; ``disabled`` the hosts
    whose endpoint answered 410 Gone; ``next_due`` when the next pending notice is due
    (None when nothing is pending).

    .. versionadded:: 0.2.0
    """

    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: tuple[str, ...] = ()
    next_due: datetime | None = None
