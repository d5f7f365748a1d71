"""audit partitions: one hash chain per partition, a global sequence, signed checkpoints

The audit log becomes a fixed number of partitions, each its own hash chain with its own
head row (``dualid_audit_head.id`` is the partition), so writers of different partitions
never wait on each other; a checkpoint commits to all of them. ``dualid_audit.part`` and
``pseq`` give an entry's partition and its position there; ``seq`` stays the log-wide
number (on PostgreSQL from the sequence ``dualid_audit_seq``, so it increases within a
partition but may have gaps across them; on SQLite, one partition, it has none).

The number of partitions is fixed here: 1 on SQLite; on PostgreSQL the ``audit_partitions``
attribute of the migration's configuration (``DualId.open(audit_partitions=...)``, ``dualid
db upgrade --audit-partitions``), else 16. The existing chain becomes partition 0, entry for
entry (``pseq = seq``). ``dualid_audit_checkpoint`` keeps the checkpoints the SDK signs, with
each partition's compact range so the next checkpoint hashes only newer entries.

Downgrading folds the partitions back into one chain: entries are renumbered 1, 2, 3, ... in
log-wide order and re-hashed (the log before 0006 has no gaps and one head), so checkpoints
signed before the downgrade no longer match it: a downgrade is an operator's rewrite of the
log, and the entry it leaves is the only trace.

Revision ID: 0006_audit_partitions
Revises: 0005_events
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_partitions"
down_revision = "0005_events"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
DEFAULT_PG_PARTITIONS = 16
MAX_PARTITIONS = 256


def _partitions() -> int:
    if op.get_bind().dialect.name != "postgresql":
        return 1
    config = op.get_context().config
    wanted = None if config is None else config.attributes.get("audit_partitions")
    count = DEFAULT_PG_PARTITIONS if wanted is None else int(wanted)
    if not 1 <= count <= MAX_PARTITIONS:
        raise ValueError(f"audit_partitions must be between 1 and {MAX_PARTITIONS}")
    return count


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "dualid_audit",
        sa.Column("part", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "dualid_audit",
        sa.Column("pseq", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE dualid_audit SET pseq = seq")
    op.create_index("ix_dualid_audit_part_pseq", "dualid_audit", ["part", "pseq"], unique=True)
    op.add_column(
        "dualid_audit_head",
        sa.Column("pseq", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE dualid_audit_head SET pseq = seq, id = 0 WHERE id = 1")
    count = _partitions()
    if count > 1:
        head = sa.table(
            "dualid_audit_head",
            sa.column("id", sa.Integer()),
            sa.column("seq", sa.BigInteger()),
            sa.column("pseq", sa.BigInteger()),
            sa.column("entry_hash", sa.String()),
        )
        op.bulk_insert(
            head, [{"id": p, "seq": 0, "pseq": 0, "entry_hash": GENESIS} for p in range(1, count)]
        )
    if pg:
        op.execute("CREATE SEQUENCE dualid_audit_seq AS BIGINT MINVALUE 1")
        op.execute(
            "SELECT setval('dualid_audit_seq', COALESCE((SELECT max(seq) FROM dualid_audit), 0)"
            " + 1, false)"
        )
    op.create_table(
        "dualid_audit_checkpoint",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("ranges", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def _rechain(bind: sa.Connection) -> tuple[int, str]:
    """Renumber every entry 1..n in log-wide order and re-hash one chain; the new head."""
    import hashlib

    rows = bind.execute(sa.text("SELECT seq, body FROM dualid_audit ORDER BY seq")).all()
    prev, new_seq = GENESIS, 0
    updates = []
    for old_seq, body in rows:
        new_seq += 1
        head = f'{{"seq":{old_seq},'
        if not body.startswith(head):
            raise RuntimeError(f"audit entry {old_seq} is malformed; run `dualid audit verify`")
        rebuilt = f'{{"seq":{new_seq},' + body[len(head) :]
        entry_hash = hashlib.sha256(bytes.fromhex(prev) + rebuilt.encode()).hexdigest()
        updates.append((old_seq, new_seq, rebuilt, prev, entry_hash))
        prev = entry_hash
    # Negative numbers first, so renumbering never collides with a number still in use.
    for old_seq, _, _, _, _ in updates:
        bind.execute(
            sa.text("UPDATE dualid_audit SET seq = :n WHERE seq = :o"),
            {"n": -old_seq, "o": old_seq},
        )
    for old_seq, seq, body, prev_hash, entry_hash in updates:
        bind.execute(
            sa.text(
                "UPDATE dualid_audit SET seq = :s, body = :b, prev_hash = :p, entry_hash = :h"
                " WHERE seq = :o"
            ),
            {"s": seq, "b": body, "p": prev_hash, "h": entry_hash, "o": -old_seq},
        )
    return new_seq, prev


def downgrade() -> None:
    bind = op.get_bind()
    seq, entry_hash = _rechain(bind)
    op.drop_table("dualid_audit_checkpoint")
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE dualid_audit_seq")
    op.execute("DELETE FROM dualid_audit_head WHERE id <> 0")
    bind.execute(
        sa.text("UPDATE dualid_audit_head SET id = 1, seq = :s, entry_hash = :h WHERE id = 0"),
        {"s": seq, "h": entry_hash},
    )
    op.drop_index("ix_dualid_audit_part_pseq", table_name="dualid_audit")
    # Plain ALTER TABLE ... DROP COLUMN on both backends (SQLite >= 3.35): a batch rebuild
    # would turn SQLite's INTEGER PRIMARY KEY seq (migration 0004) back into a BIGINT.
    op.execute("ALTER TABLE dualid_audit_head DROP COLUMN pseq")
    op.execute("ALTER TABLE dualid_audit DROP COLUMN pseq")
    op.execute("ALTER TABLE dualid_audit DROP COLUMN part")
