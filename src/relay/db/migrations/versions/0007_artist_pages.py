"""artist pages: tracks by (artist_did, created_at, id) — an artist's newest tracks are a seek, not
a walk of every track (the artist_did index it replaces is its prefix); statistics for SQLite's
planner (``relay.db.planner_stats`` keeps them current)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tracks_artist_created", "tracks", ["artist_did", "created_at", "id"])
    op.drop_index("ix_tracks_artist_did", "tracks")
    op.execute("ANALYZE tracks")


def downgrade() -> None:
    op.create_index("ix_tracks_artist_did", "tracks", ["artist_did"])
    op.drop_index("ix_tracks_artist_created", "tracks")
