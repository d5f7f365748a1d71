"""The SQLModel tables. Every change here ships as an Alembic migration in ``migrations/``.

Timestamps are stored as integer microseconds since the Unix epoch (UTC) through
:class:`UtcMicros`: exact, sortable and the same on SQLite and PostgreSQL. No column holds
personal data in plaintext (P3): userIds and profile fields live only in ``dualid_sealed``
(AES-GCM) and as keyed blind indexes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from dualid._micros import from_us, to_us

__all__ = [
    "Agent",
    "AgentKey",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "AuditTile",
    "Default",
    "Event",
    "Grant",
    "Host",
    "KeyGeneration",
    "Registration",
    "Requirement",
    "Sealed",
    "Secret",
    "Shared",
    "UtcMicros",
    "WebhookEndpoint",
    "WebhookNotice",
    "metadata",
    "table",
]


COPY_FIELDS_WHERE = "substr(record_id, 1, 2) NOT IN ('p:', 'u:')"
"""The ``dualid_sealed`` rows that are shared copies (neither a profile nor a userId)."""


class UtcMicros(TypeDecorator[datetime]):
    """An aware UTC datetime stored as BIGINT microseconds since the epoch."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return to_us(value)

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return from_us(value)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcMicros, nullable=nullable, index=index)


class Agent(SQLModel, table=True):
    """An agent and the keyed blind index of its userId, computed under the blind-index
    key of generation ``index_gen`` (migration 0010; ``dualid_key_generation``)."""

    __tablename__ = "dualid_agent"
    __table_args__ = (Index("ix_dualid_agent_index_gen", "index_gen", "agent_id"),)
    agent_id: str = Field(primary_key=True, max_length=40)
    user_index: bytes = Field(sa_type=LargeBinary(32), unique=True)
    created_at: datetime = _ts()
    index_gen: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class AgentKey(SQLModel, table=True):
    """One data key (DEK) per agent, wrapped by a master key. Deleting the row is
    crypto-shredding: every ciphertext under that DEK becomes unreadable (P6)."""

    __tablename__ = "dualid_agent_key"
    agent_id: str = Field(primary_key=True, max_length=40)
    master_key_id: str = Field(max_length=2048, index=True)  # MAX_KEY_ID_LENGTH (0008)
    dek_version: int = Field(default=1)
    wrapped: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


class Secret(SQLModel, table=True):
    """Store-wide random secrets, wrapped by a master key (the root of derived keys)."""

    __tablename__ = "dualid_secret"
    name: str = Field(primary_key=True, max_length=64)
    master_key_id: str = Field(max_length=2048)  # MAX_KEY_ID_LENGTH (0008)
    wrapped: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


class KeyGeneration(SQLModel, table=True):
    """One generation of a rotatable derived key (migration 0010): ``purpose`` is
    ``blind-index``, ``receipt-signing`` or ``audit-signing``; generation 1 is derived from
    the root secret, a later one is the wrapped secret named ``secret``; ``state`` is
    ``active``, ``retiring`` (the blind index's old key during a rotation) or ``retired``
    (``retired_at``: the latest bound of the clock reading when it was retired). A signing
    key keeps its ``public_key`` (raw Ed25519) so what it signed still verifies."""

    __tablename__ = "dualid_key_generation"
    purpose: str = Field(primary_key=True, max_length=32)
    generation: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    state: str = Field(max_length=16)
    secret: str | None = Field(default=None, max_length=64)
    public_key: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    created_at: datetime | None = _ts(nullable=True)
    retired_at: datetime | None = _ts(nullable=True)


class Sealed(SQLModel, table=True):
    """One encrypted field of one record (a profile, a userId, a registration snapshot)."""

    __tablename__ = "dualid_sealed"
    __table_args__ = (
        # Only the shared copies from before migration 0011 (one row per field), until
        # they are re-sealed: finding whether any are left is one probe.
        Index(
            "ix_dualid_sealed_copies",
            "record_id",
            sqlite_where=text(COPY_FIELDS_WHERE),
            postgresql_where=text(COPY_FIELDS_WHERE),
        ),
        # SQLite: stored in its primary key (migration 0004).
        {"sqlite_with_rowid": False},
    )
    record_id: str = Field(primary_key=True, max_length=64)
    field: str = Field(primary_key=True, max_length=32)
    agent_id: str = Field(max_length=40, index=True)
    dek_version: int = Field(default=1)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    sealed_at: datetime = _ts()


class Shared(SQLModel, table=True):
    """A registration's shared copy: the values the person shares with the host for that
    event, sealed as one AES-GCM ciphertext under the agent's data key together with the
    host's pairwise ref (migration 0011). ``fields`` names the values it holds (no
    values: like a grant's fields) and is bound into the associated data with agent,
    registration, host, event and key version, so the host view reads one row per
    attendee and decrypts once."""

    __tablename__ = "dualid_shared"
    __table_args__ = {"sqlite_with_rowid": False}
    registration_id: str = Field(primary_key=True, max_length=40)
    agent_id: str = Field(max_length=40, index=True)
    fields: str = Field(max_length=200)
    dek_version: int = Field(default=1)
    ciphertext: bytes = Field(sa_type=LargeBinary)
    sealed_at: datetime = _ts()


class AuditEntry(SQLModel, table=True):
    """An entry of the audit log: position ``pseq`` of the hash chain of partition
    ``part``. ``body`` is the canonical JSON that the hash commits to; ``seq`` (the
    log-wide number) and ``subject`` repeat parts of it for querying (migration 0006)."""

    __tablename__ = "dualid_audit"
    __table_args__ = (Index("ix_dualid_audit_part_pseq", "part", "pseq", unique=True),)
    # SQLite: INTEGER PRIMARY KEY, the table's rowid (migration 0004).
    seq: int = Field(
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    subject: str | None = Field(default=None, max_length=40, index=True)
    body: str = Field(sa_type=Text)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64)
    part: int = Field(sa_type=SmallInteger, sa_column_kwargs={"server_default": "0"})
    pseq: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class AuditHead(SQLModel, table=True):
    """A partition's chain head (``id`` is the partition): locked by every append to that
    partition, so its writers extend one unbroken chain (P7) while other partitions'
    writers go on. ``seq`` is the log-wide number of its last entry, ``pseq`` its
    position in the partition."""

    __tablename__ = "dualid_audit_head"
    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(sa_type=BigInteger)
    entry_hash: str = Field(max_length=64)
    pseq: int = Field(sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint (its C2SP note) and each partition's compact range at it, so
    the next checkpoint hashes only the entries written since (migration 0006)."""

    __tablename__ = "dualid_audit_checkpoint"
    size: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    note: str = Field(sa_type=Text)
    ranges: str = Field(sa_type=Text)
    created_at: datetime = _ts()


class AuditTile(SQLModel, table=True):
    """The Merkle head of one complete run of 256 leaves of a partition (``idx`` covers
    leaves ``[idx * 256, idx * 256 + 256)``): what proofs compose their subtree heads from,
    checked against the signed checkpoint, never trusted on their own (migration 0012)."""

    __tablename__ = "dualid_audit_tile"
    part: int = Field(
        sa_type=SmallInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    idx: int = Field(
        sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False}
    )
    root: bytes = Field(sa_type=LargeBinary(32))


class Host(SQLModel, table=True):
    __tablename__ = "dualid_host"
    host_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    created_at: datetime = _ts()


class Requirement(SQLModel, table=True):
    """What a host needs (``required``) and may ask for (``optional``) per event type."""

    __tablename__ = "dualid_requirement"
    host_id: str = Field(primary_key=True, max_length=64)
    event_type: str = Field(primary_key=True, max_length=32)
    required: str = Field(default="", max_length=200)
    optional: str = Field(default="", max_length=200)
    purpose: str = Field(max_length=500)
    updated_at: datetime = _ts()


class Event(SQLModel, table=True):
    """An event of a host with its one event type, fixed when it is created (explicitly or
    by its first registration; migration 0005). ``title`` is the host's own label, not
    personal data."""

    __tablename__ = "dualid_event"
    host_id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=128)
    event_type: str = Field(max_length=32)
    title: str | None = Field(default=None, max_length=200)
    starts_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class Registration(SQLModel, table=True):
    __tablename__ = "dualid_registration"
    __table_args__ = (
        UniqueConstraint("host_id", "event_id", "agent_id", name="uq_dualid_registration"),
        Index("ix_dualid_registration_event", "host_id", "event_id", "registration_id"),
    )
    registration_id: str = Field(primary_key=True, max_length=40)
    agent_id: str = Field(max_length=40, index=True)
    host_id: str = Field(max_length=64)
    event_type: str = Field(max_length=32)
    event_id: str = Field(max_length=128)
    created_at: datetime = _ts()


class Grant(SQLModel, table=True):
    """A consent. ``mac`` (migration 0007) is the row's MAC under a key derived from the
    root secret (``DerivedKeys.grant_tag``): reads that show data trust the row only when
    it verifies; NULL for a row from before 0007 until it is sealed."""

    __tablename__ = "dualid_grant"
    __table_args__ = (
        # Covering for the host view's grant lookups (migrations 0003, 0007).
        Index(
            "ix_dualid_grant_active",
            "agent_id",
            "host_id",
            "revoked_at",
            "event_id",
            "expires_at",
            "event_type",
            "created_at",
            "fields",
            "grant_id",
            "mac",
        ),
    )
    grant_id: str = Field(primary_key=True, max_length=40)
    agent_id: str = Field(max_length=40)
    host_id: str = Field(max_length=64, index=True)
    event_id: str | None = Field(default=None, max_length=128)
    event_type: str | None = Field(default=None, max_length=32)
    fields: str = Field(max_length=200)
    purpose: str = Field(max_length=500)
    created_at: datetime = _ts()
    created_uncertainty_us: int = Field(default=0, sa_type=BigInteger)
    created_hlc: str = Field(max_length=32)
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    mac: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class Default(SQLModel, table=True):
    """A person's default sharing per event type; ``host_id`` '' means any host."""

    __tablename__ = "dualid_default"
    agent_id: str = Field(primary_key=True, max_length=40)
    event_type: str = Field(primary_key=True, max_length=32)
    host_id: str = Field(primary_key=True, max_length=64, default="")
    fields: str = Field(max_length=200)
    updated_at: datetime = _ts()


class WebhookEndpoint(SQLModel, table=True):
    """A host's webhook endpoint (migration 0009_webhooks). ``salt`` names the current
    signing key generation (the secrets are derived from the root secret and it, never
    stored); ``prev_salt`` the one before a rotation, still signing until ``prev_until``.
    Disabled (``disabled_at`` set) when the endpoint answered 410 Gone."""

    __tablename__ = "dualid_webhook"
    host_id: str = Field(primary_key=True, max_length=64)
    url: str = Field(max_length=2000)
    salt: bytes = Field(sa_type=LargeBinary)
    prev_salt: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    prev_until: datetime | None = _ts(nullable=True)
    disabled_at: datetime | None = _ts(nullable=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class WebhookNotice(SQLModel, table=True):
    """One notice of the transactional outbox (migration 0009_webhooks): written in the
    transaction of the change it reports, delivered to the host's endpoint in ``seq``
    order. ``payload`` is the exact JSON body sent (PII-free: the host's pairwise ref,
    ids and field names); no agentId is stored here."""

    __tablename__ = "dualid_webhook_notice"
    __table_args__ = (
        Index("ix_dualid_webhook_notice_host", "host_id", "status", "seq"),
        Index("ix_dualid_webhook_notice_id", "notice_id", unique=True),
    )
    # SQLite: INTEGER PRIMARY KEY, the table's rowid; PostgreSQL: dualid_webhook_notice_seq.
    seq: int = Field(
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        sa_column_kwargs={"autoincrement": False},
    )
    notice_id: str = Field(max_length=40)
    host_id: str = Field(max_length=64)
    type: str = Field(max_length=32)
    grant_id: str | None = Field(default=None, max_length=40, index=True)
    payload: str = Field(sa_type=Text)
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _ts()
    last_attempt_at: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
    last_status: int | None = Field(default=None, nullable=True)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = _ts()


metadata = SQLModel.metadata


def table(model: type[SQLModel]) -> Table:
    """The Core :class:`~sqlalchemy.Table` of a model (typed)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
