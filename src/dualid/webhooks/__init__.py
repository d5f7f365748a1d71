"""Telling hosts when consent changes: signed webhooks from a transactional outbox.

A change that ends (or starts) what a host may see writes a thin, PII-free notice in its
own transaction; :class:`Webhooks` delivers the notices to the hosts' endpoints at least
once, in order per host, signed by the Standard Webhooks specification (``v1`` HMAC and
``v1a`` Ed25519). Hosts check them with :func:`verify` (``docs/webhooks.md``).
"""

from ._service import BackgroundDelivery, Webhooks
from ._signing import PUBLIC_KEY_PREFIX, SECRET_PREFIX, TOLERANCE, sign, verify
from ._types import (
    RETRY_SCHEDULE,
    Delivery,
    DeliveryPage,
    DeliveryReport,
    HostNotice,
    NoticeStatus,
    NoticeType,
    WebhookEndpoint,
)

__all__ = [
    "PUBLIC_KEY_PREFIX",
    "RETRY_SCHEDULE",
    "SECRET_PREFIX",
    "TOLERANCE",
    "BackgroundDelivery",
    "Delivery",
    "DeliveryPage",
    "DeliveryReport",
    "HostNotice",
    "NoticeStatus",
    "NoticeType",
    "WebhookEndpoint",
    "Webhooks",
    "sign",
    "verify",
]
