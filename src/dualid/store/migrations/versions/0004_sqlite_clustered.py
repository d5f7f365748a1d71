"""sqlite: sealed fields clustered by key, audit seq as the rowid

On SQLite only (PostgreSQL is unchanged): ``dualid_sealed`` becomes a WITHOUT ROWID table,
stored in its primary key (record_id, field), and ``dualid_audit.seq`` becomes an INTEGER
PRIMARY KEY, the table's own rowid. Each drops one b-tree that every write had to update:
a profile write touches five pages instead of seven.

Revision ID: 0004_sqlite_clustered
Revises: 0003_grant_covering_index
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sqlite_clustered"
down_revision = "0003_grant_covering_index"
branch_labels = None
depends_on = None


def _rebuild(with_rowid: bool, seq_type: sa.types.TypeEngine[int]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    kwargs = {} if with_rowid else {"sqlite_with_rowid": False}
    with op.batch_alter_table("dualid_sealed", recreate="always", table_kwargs=kwargs):
        pass
    with op.batch_alter_table("dualid_audit", recreate="always") as batch:
        batch.alter_column("seq", type_=seq_type, existing_nullable=False)


def upgrade() -> None:
    _rebuild(with_rowid=False, seq_type=sa.Integer())


def downgrade() -> None:
    _rebuild(with_rowid=True, seq_type=sa.BigInteger())
