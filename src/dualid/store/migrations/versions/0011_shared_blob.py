"""shared copies: one AES-GCM blob per registration instead of one per field

``dualid_shared`` holds a registration's shared copy as one ciphertext under the agent's
data key: the values the person shares with the host for that event and the host's
pairwise ref, sealed together. ``fields`` names the values it holds (names only, as a
grant's ``fields``) and is bound into the associated data with agent, registration, host,
event and key version (``dualid/shared/v1``), so a blob moved to another registration,
host or event, or given another field list, does not authenticate. The host view reads
one row per attendee with its registration and decrypts once; the grant rows and their
MACs (0007) decide, as before, which of the values the host sees.

A migration has no keys, so the copies that exist when it runs (one ``dualid_sealed`` row
per field, keyed by the registration id) stay where they are and stay readable; they are
re-sealed into blobs person by person, each in a transaction of its own (resumable: the
next run picks up what is left), by ``DualId.open`` when it is the open that ran this
migration, or by ``sdk.consent.seal_copies()`` / ``dualid db seal-copies``. Any write of a
person's copy re-seals it meanwhile. The partial index ``ix_dualid_sealed_copies`` holds
only the per-field copies, so whether any are left is one probe (the host view stops
reading them once none are).

Downgrading turns every blob back into one ``dualid_sealed`` row per field, which needs
the keys: ``dualid db downgrade`` passes them when the master key is configured
(``DUALID_MASTER_KEY`` or the key file), as ``dualid.store.downgrade(...,
split_shared=...)`` does for a caller with an SDK. Without them a store that holds blobs
refuses to go below this revision (``MissingKeyError``) and nothing changes; an empty
table is simply dropped.

Revision ID: 0011_shared_blob
Revises: 0010_index_keys
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

from dualid.errors import MissingKeyError

revision = "0011_shared_blob"
down_revision = "0010_index_keys"
branch_labels = None
depends_on = None

TABLE = "dualid_shared"
COPIES_INDEX = "ix_dualid_sealed_copies"
# The per-field copies (written here, not imported: a migration keeps its own text).
COPY_FIELDS_WHERE = "substr(record_id, 1, 2) NOT IN ('p:', 'u:')"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("registration_id", sa.String(40), primary_key=True),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("fields", sa.String(200), nullable=False),
        sa.Column("dek_version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_at", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_dualid_shared_agent_id", TABLE, ["agent_id"])
    op.create_index(
        COPIES_INDEX,
        "dualid_sealed",
        ["record_id"],
        sqlite_where=sa.text(COPY_FIELDS_WHERE),
        postgresql_where=sa.text(COPY_FIELDS_WHERE),
    )


def downgrade() -> None:
    bind = op.get_bind()
    held = bind.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()  # noqa: S608
    if held:
        config = op.get_context().config
        split: Callable[[Any], int] | None = (
            None if config is None else config.attributes.get("split_shared")
        )
        if split is None:
            raise MissingKeyError(
                f"{held:,} shared copies are sealed one blob per registration; going below "
                "0011_shared_blob re-seals them field by field, which needs the master key: "
                "run `dualid db downgrade` with DUALID_MASTER_KEY set (or the key file)"
            )
        split(bind)
    op.drop_index(COPIES_INDEX, table_name="dualid_sealed")
    op.drop_index("ix_dualid_shared_agent_id", table_name=TABLE)
    op.drop_table(TABLE)
