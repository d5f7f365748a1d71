"""derived keys by generation: the blind index's key and the signing keys rotate

``dualid_key_generation`` has one row per generation of a rotatable derived key
(``purpose``: ``blind-index``, ``receipt-signing``, ``audit-signing``). Generation 1 of
each is the key derived from the store's root secret, as before (HKDF info
``dualid/blind-index/v1``, ...); a later generation is a random secret of its own, kept
wrapped by the master key in ``dualid_secret`` under the name in ``secret``. ``state`` is
``active`` (the one in use), ``retiring`` (the blind index's old key while a rotation
re-indexes every agent) or ``retired``; a signing key's ``public_key`` is kept once its
secret is gone, so what it signed still verifies. ``dualid_agent.index_gen`` is the
generation each agent's blind index was computed under. This migration adds generation 1
of each purpose, active, and marks every agent as indexed under it.

Downgrading drops both. It is refused once any key has been rotated (a generation above
1 exists): the schema before 0010 knows only the root-derived keys, so the agents indexed
under a later key could no longer be found and what a later signing key signed would no
longer verify.

Revision ID: 0010_index_keys
Revises: 0009_webhooks
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dualid.errors import InvalidInput

revision = "0010_index_keys"
down_revision = "0009_webhooks"
branch_labels = None
depends_on = None

PURPOSES = ("blind-index", "receipt-signing", "audit-signing")
INDEX = "ix_dualid_agent_index_gen"


def upgrade() -> None:
    op.create_table(
        "dualid_key_generation",
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("secret", sa.String(64), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=True),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
    )
    table = sa.table(
        "dualid_key_generation",
        sa.column("purpose", sa.String()),
        sa.column("generation", sa.Integer()),
        sa.column("state", sa.String()),
    )
    op.bulk_insert(table, [{"purpose": p, "generation": 1, "state": "active"} for p in PURPOSES])
    op.add_column(
        "dualid_agent",
        sa.Column("index_gen", sa.Integer(), nullable=False, server_default="1"),
    )
    # The rotation reads the agents still under the old generation, in agentId order.
    op.create_index(INDEX, "dualid_agent", ["index_gen", "agent_id"])


def downgrade() -> None:
    rotated = op.get_bind().execute(
        sa.text("SELECT purpose, max(generation) FROM dualid_key_generation GROUP BY purpose")
    )
    later = sorted(f"{purpose} generation {gen}" for purpose, gen in rotated if gen > 1)
    if later:
        raise InvalidInput(
            "cannot downgrade below 0010_index_keys: derived keys were rotated ("
            + ", ".join(later)
            + "); the older schema knows only the keys derived from the root secret"
        )
    op.drop_index(INDEX, table_name="dualid_agent")
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite >= 3.35), as in 0006.
    op.execute("ALTER TABLE dualid_agent DROP COLUMN index_gen")
    op.drop_table("dualid_key_generation")
