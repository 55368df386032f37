"""tracks and sessions

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(512), nullable=False, unique=True),
        sa.Column("artist_did", sa.String(256), nullable=False),
        sa.Column("rkey", sa.String(64), nullable=False),
        sa.Column("cid", sa.String(128), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("artist", sa.Text(), nullable=False),
        sa.Column("album", sa.Text(), nullable=True),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.Column("artist_key", sa.Text(), nullable=False),
        sa.Column("album_key", sa.Text(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("audio_url", sa.Text(), nullable=False),
        sa.Column("file_id", sa.String(128), nullable=True),
        sa.Column("file_type", sa.String(16), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("record_created_at", sa.String(64), nullable=False),
        sa.Column("indexed_at", UTCDateTime(), nullable=False),
        sa.Column("artist_handle", sa.String(256), nullable=True),
        sa.Column("publish_state", sa.String(16), nullable=False),
        sa.Column("publish_error", sa.Text(), nullable=True),
        sa.Column("publish_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_publish_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_tracks_created_at", "tracks", ["created_at", "id"])
    op.create_index("ix_tracks_artist_did", "tracks", ["artist_did"])
    op.create_index("ix_tracks_file_id", "tracks", ["file_id"])
    op.create_index("ix_tracks_publish_due", "tracks", ["publish_state", "next_publish_at"])
    op.create_index("ix_tracks_artist_key", "tracks", ["artist_key"])
    op.create_index("ix_tracks_title_key", "tracks", ["title_key", "id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("did", sa.String(256), nullable=False),
        sa.Column("handle", sa.String(256), nullable=False),
        sa.Column("pds_url", sa.String(512), nullable=False),
        sa.Column("auth_kind", sa.String(32), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_sessions_did", "sessions", ["did"])


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("tracks")
