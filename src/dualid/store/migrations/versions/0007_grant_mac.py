"""grants: a MAC per row, in the host view's covering index

``dualid_grant.mac`` is the row's MAC under a key derived from the store's root secret
(``DerivedKeys.grant_tag``, HKDF info ``dualid/grant-mac/v1``) over its id, person, host,
event, event type, fields, creation, expiry and revocation. The SDK writes it with every
insert and update of a grant, and the reads that show data trust a grant only when it
verifies, so a row edited by someone without the keys (moved to another host or event,
its expiry or revocation changed) shares nothing.

A migration has no keys: rows that exist when it runs get NULL and are not trusted until
they are sealed (``sdk.consent.seal_grants()``, ``dualid audit seal-grants``, or
``DualId.open`` when it is the open that ran this migration), which first checks each of
them against the audit log's replay. The covering index ``ix_dualid_grant_active`` gains
``grant_id`` and ``mac``, so the host view still reads every grant from the index alone.

Downgrading drops the column (and the MACs with it) and restores the index of 0003.

Revision ID: 0007_grant_mac
Revises: 0006_audit_partitions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_grant_mac"
down_revision = "0006_audit_partitions"
branch_labels = None
depends_on = None

INDEX = "ix_dualid_grant_active"
COLUMNS_0003 = [
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
    op.add_column("dualid_grant", sa.Column("mac", sa.LargeBinary(), nullable=True))
    op.drop_index(INDEX, table_name="dualid_grant")
    op.create_index(INDEX, "dualid_grant", [*COLUMNS_0003, "grant_id", "mac"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="dualid_grant")
    op.create_index(INDEX, "dualid_grant", COLUMNS_0003)
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite >= 3.35), as in 0006.
    op.execute("ALTER TABLE dualid_grant DROP COLUMN mac")
