"""many processes, one index: publish/delete leases and pending deletes, audio reference
counts, the event log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("delete_requested_at", UTCDateTime(), nullable=True))
    op.create_table(
        "audio_objects",
        sa.Column("file_id", sa.String(128), primary_key=True),
        sa.Column("refs", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("unreferenced_since", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_audio_objects_unreferenced", "audio_objects", ["refs", "unreferenced_since"]
    )
    # Objects already stored: counted from the rows that use them.
    op.execute(
        "INSERT INTO audio_objects (file_id, refs, created_at) "
        "SELECT file_id, COUNT(*), MIN(created_at) FROM tracks "
        "WHERE file_id IS NOT NULL GROUP BY file_id"
    )
    op.create_table(
        "track_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_track_events_created_at", "track_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("track_events")
    op.drop_table("audio_objects")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("delete_requested_at")
        batch.drop_column("lease_until")
        batch.drop_column("lease_token")
