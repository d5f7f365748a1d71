"""events: one row per (host, event) with its one event type

An event belongs to one host and has one event type, fixed when it is created
(``events.create``) or by its first registration; it outlives its registrations, so an
event whose last registration was cancelled still answers an empty attendee list.
Existing events are created from their earliest registration (its type and time).

Revision ID: 0005_events
Revises: 0004_sqlite_clustered
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_events"
down_revision = "0004_sqlite_clustered"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dualid_event",
        sa.Column("host_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("starts_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO dualid_event (host_id, event_id, event_type, created_at)"
        " SELECT r.host_id, r.event_id, r.event_type, r.created_at FROM dualid_registration r"
        " WHERE NOT EXISTS (SELECT 1 FROM dualid_registration o"
        " WHERE o.host_id = r.host_id AND o.event_id = r.event_id"
        " AND (o.created_at < r.created_at"
        " OR (o.created_at = r.created_at AND o.registration_id < r.registration_id)))"
    )


def downgrade() -> None:
    op.drop_table("dualid_event")
