"""consent: hosts, requirements, registrations, grants, defaults

Revision ID: 0002_consent
Revises: 0001_core
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_consent"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dualid_host",
        sa.Column("host_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dualid_requirement",
        sa.Column("host_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("required", sa.String(200), nullable=False),
        sa.Column("optional", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dualid_registration",
        sa.Column("registration_id", sa.String(40), primary_key=True),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("host_id", "event_id", "agent_id", name="uq_dualid_registration"),
    )
    op.create_index("ix_dualid_registration_agent_id", "dualid_registration", ["agent_id"])
    op.create_index(
        "ix_dualid_registration_event",
        "dualid_registration",
        ["host_id", "event_id", "registration_id"],
    )
    op.create_table(
        "dualid_grant",
        sa.Column("grant_id", sa.String(40), primary_key=True),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("host_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=True),
        sa.Column("event_type", sa.String(32), nullable=True),
        sa.Column("fields", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_uncertainty_us", sa.BigInteger(), nullable=False),
        sa.Column("created_hlc", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_dualid_grant_agent_host", "dualid_grant", ["agent_id", "host_id"])
    op.create_index("ix_dualid_grant_host_id", "dualid_grant", ["host_id"])
    op.create_table(
        "dualid_default",
        sa.Column("agent_id", sa.String(40), primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("host_id", sa.String(64), primary_key=True),
        sa.Column("fields", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dualid_default")
    op.drop_index("ix_dualid_grant_host_id", table_name="dualid_grant")
    op.drop_index("ix_dualid_grant_agent_host", table_name="dualid_grant")
    op.drop_table("dualid_grant")
    op.drop_index("ix_dualid_registration_event", table_name="dualid_registration")
    op.drop_index("ix_dualid_registration_agent_id", table_name="dualid_registration")
    op.drop_table("dualid_registration")
    op.drop_table("dualid_requirement")
    op.drop_table("dualid_host")
