"""Errors raised by dualid.

Every error the SDK raises on purpose is a :class:`DualIdError`. Each class carries a
stable, machine-readable ``code`` (part of the public contract: the HTTP layer puts it in
the JSON body) and a message that never contains personal data or an agentId.
Foreign exceptions (SQLAlchemy, cryptography, sockets) are converted at the boundary.

The tree::

    DualIdError                       DUALID_ERROR
    ├── ConfigurationError            CONFIGURATION_ERROR
    │   └── MissingKeyError           MISSING_KEY
    ├── InvalidInput                  INVALID_INPUT
    │   ├── InvalidField              INVALID_FIELD
    │   ├── InvalidExpiry             INVALID_EXPIRY
    │   ├── InvalidCheckpoint         INVALID_CHECKPOINT
    │   ├── InvalidWebhookUrl         INVALID_WEBHOOK_URL
    │   └── WebhookVerificationError  WEBHOOK_VERIFICATION_FAILED
    ├── NotFound                      NOT_FOUND
    │   ├── UnknownAgent              UNKNOWN_AGENT
    │   ├── UnknownHost               UNKNOWN_HOST
    │   ├── UnknownEvent              UNKNOWN_EVENT
    │   ├── UnknownGrant              UNKNOWN_GRANT
    │   ├── UnknownRegistration       UNKNOWN_REGISTRATION
    │   └── UnknownWebhook            UNKNOWN_WEBHOOK
    ├── Conflict                      CONFLICT
    │   ├── AlreadyExists             ALREADY_EXISTS
    │   ├── DuplicateRegistration     DUPLICATE_REGISTRATION
    │   ├── EventTypeMismatch         EVENT_TYPE_MISMATCH
    │   └── GrantNotActive            GRANT_NOT_ACTIVE
    ├── ConsentError                  CONSENT_ERROR
    │   ├── ConsentRequired           CONSENT_REQUIRED
    │   └── FieldNotRequested         FIELD_NOT_REQUESTED
    ├── CryptoError                   CRYPTO_ERROR
    │   ├── DecryptionFailed          DECRYPTION_FAILED
    │   ├── KeyDestroyed              KEY_DESTROYED
    │   └── KeyServiceUnavailable     KEY_SERVICE_UNAVAILABLE
    ├── StoreError                    STORE_ERROR
    │   ├── StoreUnavailable          STORE_UNAVAILABLE
    │   ├── SchemaOutOfDate           SCHEMA_OUT_OF_DATE
    │   └── CorruptRow                CORRUPT_ROW
    ├── AuditError                    AUDIT_ERROR
    └── ClockError                    CLOCK_ERROR
        └── dualid.clock.HlcSkewError CLOCK_ERROR (also a ValueError)

``ValueError``-compatible: :class:`InvalidInput` also subclasses ``ValueError`` so code that
validates with ``except ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "AuditError",
    "ClockError",
    "ConfigurationError",
    "Conflict",
    "ConsentError",
    "ConsentRequired",
    "CorruptRow",
    "CryptoError",
    "DecryptionFailed",
    "DualIdError",
    "DuplicateRegistration",
    "EventTypeMismatch",
    "FieldNotRequested",
    "GrantNotActive",
    "InvalidCheckpoint",
    "InvalidExpiry",
    "InvalidField",
    "InvalidInput",
    "InvalidWebhookUrl",
    "KeyDestroyed",
    "KeyServiceUnavailable",
    "MissingKeyError",
    "NotFound",
    "SchemaOutOfDate",
    "StoreError",
    "StoreUnavailable",
    "UnknownAgent",
    "UnknownEvent",
    "UnknownGrant",
    "UnknownHost",
    "UnknownRegistration",
    "UnknownWebhook",
    "WebhookVerificationError",
]


class DualIdError(Exception):
    """Root of every error dualid raises on purpose.

    ``code`` is stable across releases; ``message`` is for humans and never holds personal
    data or agentIds; ``details`` holds safe, structured context (field names, ids that the
    caller already knows) for machine use.
    """

    code: ClassVar[str] = "DUALID_ERROR"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": dict(self.details)}


class ConfigurationError(DualIdError):
    """The SDK is set up wrongly (bad URL, bad key material, missing extra)."""

    code = "CONFIGURATION_ERROR"


class MissingKeyError(ConfigurationError):
    """No master key is configured where one is required (e.g. a PostgreSQL store)."""

    code = "MISSING_KEY"


class InvalidInput(DualIdError, ValueError):
    """An argument is malformed or out of range."""

    code = "INVALID_INPUT"


class InvalidField(InvalidInput):
    """A personal-data value failed validation (phone, email, birthday, extras)."""

    code = "INVALID_FIELD"


class InvalidExpiry(InvalidInput):
    """An ``expires_at`` that is naive, or already (possibly) in the past."""

    code = "INVALID_EXPIRY"


class InvalidCheckpoint(InvalidInput):
    """A checkpoint text that is not a well-formed dualid checkpoint (C2SP signed note)."""

    code = "INVALID_CHECKPOINT"


class InvalidWebhookUrl(InvalidInput):
    """A webhook URL that is malformed, not HTTPS, carries credentials, or names a
    loopback, private or otherwise non-public address (refused unless the SDK was opened
    with ``webhooks_allow_private=True``).

    .. versionadded:: 0.2.0
    """

    code = "INVALID_WEBHOOK_URL"


class WebhookVerificationError(InvalidInput):
    """A webhook request whose Standard Webhooks headers are missing or malformed, whose
    timestamp is outside the tolerance, or none of whose signatures verifies
    (:func:`dualid.webhooks.verify`, for hosts).

    .. versionadded:: 0.2.0
    """

    code = "WEBHOOK_VERIFICATION_FAILED"


class NotFound(DualIdError):
    """Something the call refers to does not exist."""

    code = "NOT_FOUND"


class UnknownAgent(NotFound):
    code = "UNKNOWN_AGENT"


class UnknownHost(NotFound):
    code = "UNKNOWN_HOST"


class UnknownEvent(NotFound):
    code = "UNKNOWN_EVENT"


class UnknownGrant(NotFound):
    code = "UNKNOWN_GRANT"


class UnknownRegistration(NotFound):
    code = "UNKNOWN_REGISTRATION"


class UnknownWebhook(NotFound):
    """The host has no webhook endpoint.

    .. versionadded:: 0.2.0
    """

    code = "UNKNOWN_WEBHOOK"


class Conflict(DualIdError):
    """The call conflicts with the current state."""

    code = "CONFLICT"


class AlreadyExists(Conflict):
    code = "ALREADY_EXISTS"


class DuplicateRegistration(Conflict):
    """The person is already registered for that event with that host."""

    code = "DUPLICATE_REGISTRATION"


class EventTypeMismatch(Conflict):
    """The event exists with another event type (an event has one type, fixed when it is
    created, explicitly or by its first registration).

    .. versionadded:: 0.2.0
    """

    code = "EVENT_TYPE_MISMATCH"


class GrantNotActive(Conflict):
    """The grant was already revoked or has expired."""

    code = "GRANT_NOT_ACTIVE"


class ConsentError(DualIdError):
    """The call would share data without the consent or requirement it needs."""

    code = "CONSENT_ERROR"


class ConsentRequired(ConsentError):
    """Required fields are not shared, or not present. ``fields`` names them."""

    code = "CONSENT_REQUIRED"

    def __init__(self, message: str, fields: Iterable[str] = (), **details: object) -> None:
        self.fields = tuple(sorted(fields))
        super().__init__(message, fields=list(self.fields), **details)


class FieldNotRequested(ConsentError):
    """A field was offered to a host that never declared it needs or wants it."""

    code = "FIELD_NOT_REQUESTED"

    def __init__(self, message: str, fields: Iterable[str] = (), **details: object) -> None:
        self.fields = tuple(sorted(fields))
        super().__init__(message, fields=list(self.fields), **details)


class CryptoError(DualIdError):
    code = "CRYPTO_ERROR"


class DecryptionFailed(CryptoError):
    """A ciphertext did not authenticate: wrong key, or moved to another row or field."""

    code = "DECRYPTION_FAILED"


class KeyDestroyed(CryptoError):
    """The data key was destroyed by an erasure; the data is gone for good."""

    code = "KEY_DESTROYED"


class KeyServiceUnavailable(CryptoError):
    """The key service (a KMS) cannot answer now: unreachable, timing out, throttling, or
    failing on its side (HTTP 503 with ``Retry-After``). Nothing was written: the
    transaction that needed the key rolled back. ``retryable`` is always true. A key the
    service refuses to use (permission denied, disabled, not found) is not this but a
    :class:`ConfigurationError` or :class:`MissingKeyError`: retrying does not fix those.

    .. versionadded:: 0.2.0
    """

    code = "KEY_SERVICE_UNAVAILABLE"
    retryable: ClassVar[bool] = True


class StoreError(DualIdError):
    code = "STORE_ERROR"


class StoreUnavailable(StoreError):
    """The database cannot be reached or written, is overloaded, or asked to retry:
    connection failures and losses, connect, statement and lock timeouts, server shutdown,
    serialization failures, deadlocks (HTTP 503 with ``Retry-After``).

    ``retryable`` is always true: the same call may succeed later. ``replayable`` is true
    when the database rolled the transaction back because it conflicted with another one
    (serialization failure, deadlock): replaying the whole unit of work at once is safe and
    usually succeeds (:func:`dualid.store._retry.run_retrying` does that).
    """

    code = "STORE_UNAVAILABLE"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, replayable: bool = False, **details: object) -> None:
        super().__init__(message, **details)
        self.replayable = replayable


class SchemaOutOfDate(StoreError):
    code = "SCHEMA_OUT_OF_DATE"


class CorruptRow(StoreError):
    """A row the SDK cannot read: a value of the wrong type (SQLite stores anything in any
    column), out of range or not one the SDK writes, a missing row the schema promises.
    The database was changed outside dualid, or is damaged; retrying does not help.
    ``table`` (and ``column``, when known) say where; the message never holds the value.

    .. versionadded:: 0.2.0
    """

    code = "CORRUPT_ROW"

    def __init__(self, table: str, column: str | None = None, **details: object) -> None:
        where = table if column is None else f"{table} (column {column})"
        super().__init__(
            f"a row of {where} cannot be read: it was changed outside dualid or is damaged",
            table=table,
            **({} if column is None else {"column": column}),
            **details,
        )
        self.table = table
        self.column = column


class AuditError(DualIdError):
    code = "AUDIT_ERROR"


class ClockError(DualIdError):
    code = "CLOCK_ERROR"
