"""audit: tiles, so a proof reads a few thousand hashes instead of the whole log

``dualid_audit_tile`` keeps, per partition, the Merkle head of every complete run of 256
leaves (``idx`` covers the leaves ``[idx * 256, idx * 256 + 256)``). Checkpoints write them
as they hash new entries; an inclusion or consistency proof composes its subtree heads from
them and reads the entry hashes of at most two partial tiles.

Tiles are a cache the proofs check, not a trust anchor: a proof is checked against the
signed checkpoint before it is returned, and a tile row that does not match (edited, or
missing) is recomputed from the entry hashes. A store upgraded with entries and no tiles
gets them from its next checkpoint.

Downgrading drops the table (proofs then read every entry hash again).

Revision ID: 0012_audit_tiles
Revises: 0011_shared_blob
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_audit_tiles"
down_revision = "0011_shared_blob"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dualid_audit_tile",
        sa.Column("part", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dualid_audit_tile")
