"""master key ids up to 2,048 characters

``dualid_agent_key.master_key_id`` and ``dualid_secret.master_key_id`` were
``VARCHAR(64)``: enough for a local key's name or fingerprint, not for a KMS key ARN
(``arn:aws:kms:<region>:<account>:key/<uuid>`` is 75 characters or more, an alias or
multi-Region ARN longer), which PostgreSQL refused with ``StringDataRightTruncation`` at
the first wrap. Both become ``VARCHAR(2048)`` (``dualid.crypto.MAX_KEY_ID_LENGTH``). On
PostgreSQL widening a ``varchar`` changes the catalogue only (no table rewrite); SQLite
rebuilds the two tables (it stores any length anyway, the declared type is what the
schema comparison checks).

Downgrading narrows them back to 64 and **refuses** while any wrapped key is under an id
longer than 64 characters (``Conflict``, nothing changed): cutting an id would leave keys
that no provider can unwrap. Rotate to a master key with a short id first (a
``LocalKeyProvider`` key, ``sdk.keys.rotate()``), then downgrade.

Revision ID: 0008_key_ids
Revises: 0007_grant_mac
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dualid.errors import Conflict

revision = "0008_key_ids"
down_revision = "0007_grant_mac"
branch_labels = None
depends_on = None

TABLES = ("dualid_agent_key", "dualid_secret")
OLD_LENGTH = 64
NEW_LENGTH = 2048


def _resize(old: int, new: int) -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "master_key_id",
                type_=sa.String(new),
                existing_type=sa.String(old),
                existing_nullable=False,
            )


def upgrade() -> None:
    _resize(OLD_LENGTH, NEW_LENGTH)


def downgrade() -> None:
    conn = op.get_bind()
    longer = sum(
        conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE length(master_key_id) > :n"),  # noqa: S608 - fixed table names
            {"n": OLD_LENGTH},
        ).scalar_one()
        for table in TABLES
    )
    if longer:
        raise Conflict(
            f"cannot downgrade below 0008_key_ids: {longer} wrapped key(s) are under master "
            f"key ids longer than {OLD_LENGTH} characters (a KMS key ARN); rotate them to a "
            "key with a shorter id first (docs/operations.md)",
            wrapped_keys=longer,
        )
    _resize(NEW_LENGTH, OLD_LENGTH)
