"""network index: record revs, hidden accounts, audio hosts, firehose cursors, backfill state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("rev", sa.String(64), nullable=True))
        batch.add_column(sa.Column("audio_host", sa.String(255), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_tracks_hidden_created", "tracks", ["hidden", "created_at", "id"])
    op.create_table(
        "sync_cursors",
        sa.Column("source", sa.String(512), primary_key=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("event_time", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "backfill_repos",
        sa.Column("run", sa.String(128), primary_key=True),
        sa.Column("did", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("backfill_repos")
    op.drop_table("sync_cursors")
    op.drop_index("ix_tracks_hidden_created", table_name="tracks")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("hidden")
        batch.drop_column("audio_host")
        batch.drop_column("rev")
