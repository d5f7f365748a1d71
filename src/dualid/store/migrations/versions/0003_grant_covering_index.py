"""grants: a covering index for the host view's grant lookups

A host's attendee list looks up the active grants of every attendee; with the columns it
reads in the index, each lookup is one index search instead of an index search and a
table read. The index still serves every query by (agent_id) or (agent_id, host_id).

Revision ID: 0003_grant_covering_index
Revises: 0002_consent
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0003_grant_covering_index"
down_revision = "0002_consent"
branch_labels = None
depends_on = None

COLUMNS = [
    "agent_id",
    "host_id",
    "revoked_at",
    "event_id",
    "expires_at",
    "event_type",
    "created_at",
    "fields",
]


def upgrade() -> None:
    op.create_index("ix_dualid_grant_active", "dualid_grant", COLUMNS)
    op.drop_index("ix_dualid_grant_agent_host", table_name="dualid_grant")


def downgrade() -> None:
    op.create_index("ix_dualid_grant_agent_host", "dualid_grant", ["agent_id", "host_id"])
    op.drop_index("ix_dualid_grant_active", table_name="dualid_grant")
