"""core: agents, data keys, secrets, sealed fields, the audit chain

Revision ID: 0001_core
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "dualid_agent",
        sa.Column("agent_id", sa.String(40), primary_key=True),
        sa.Column("user_index", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dualid_agent_key",
        sa.Column("agent_id", sa.String(40), primary_key=True),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("dek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_dualid_agent_key_master_key_id", "dualid_agent_key", ["master_key_id"])
    op.create_table(
        "dualid_secret",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dualid_sealed",
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("dek_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_dualid_sealed_agent_id", "dualid_sealed", ["agent_id"])
    op.create_table(
        "dualid_audit",
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("subject", sa.String(40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_dualid_audit_subject", "dualid_audit", ["subject"])
    head = op.create_table(
        "dualid_audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("dualid_audit_head")
    op.drop_index("ix_dualid_audit_subject", table_name="dualid_audit")
    op.drop_table("dualid_audit")
    op.drop_index("ix_dualid_sealed_agent_id", table_name="dualid_sealed")
    op.drop_table("dualid_sealed")
    op.drop_table("dualid_secret")
    op.drop_index("ix_dualid_agent_key_master_key_id", table_name="dualid_agent_key")
    op.drop_table("dualid_agent_key")
    op.drop_table("dualid_agent")
