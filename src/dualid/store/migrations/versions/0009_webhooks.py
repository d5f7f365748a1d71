"""webhooks: one endpoint per host, and the transactional outbox of notices to hosts

``dualid_webhook`` is a host's endpoint: its URL, the salt of its current signing key
generation (the HMAC secret and the Ed25519 key are derived from the store's root secret
and the salt, so no secret is stored), the previous salt while a rotation's grace period
lasts, and whether it is disabled (it answered 410 Gone).

``dualid_webhook_notice`` is the outbox: a notice row is written in the transaction of the
change it reports (a grant, a revocation, an expiry, a cancellation, an erasure), so there
is never one without the other, and delivered to the host in ``seq`` order, at least once,
with its ``notice_id`` as the ``webhook-id``. On PostgreSQL ``seq`` comes from the sequence
``dualid_webhook_notice_seq``; on SQLite it is the table's rowid. Rows hold no agentId and
no personal data: the host's pairwise ref, ids and field names.

Downgrading drops both tables (undelivered notices are lost with them) and the sequence.

Revision ID: 0009_webhooks
Revises: 0008_key_ids
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_webhooks"
down_revision = "0008_key_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dualid_webhook",
        sa.Column("host_id", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("prev_salt", sa.LargeBinary(), nullable=True),
        sa.Column("prev_until", sa.BigInteger(), nullable=True),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dualid_webhook_notice",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("notice_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_dualid_webhook_notice_host", "dualid_webhook_notice", ["host_id", "status", "seq"]
    )
    op.create_index(
        "ix_dualid_webhook_notice_id", "dualid_webhook_notice", ["notice_id"], unique=True
    )
    op.create_index("ix_dualid_webhook_notice_grant_id", "dualid_webhook_notice", ["grant_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE dualid_webhook_notice_seq AS BIGINT MINVALUE 1")


def downgrade() -> None:
    op.drop_table("dualid_webhook_notice")
    op.drop_table("dualid_webhook")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE dualid_webhook_notice_seq")
