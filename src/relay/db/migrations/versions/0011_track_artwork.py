"""track artwork: ``tracks.image_url``, the record's optional ``imageUrl`` (cover art), and
``tracks.image_file_id``, relay's stored copy of artwork uploaded with a track (reference-counted
in ``audio_objects`` like its audio).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE on both databases: SQLite adds a nullable column in place, keeping the
    # table's triggers and its full-text index (batch mode could copy the table without them).
    op.add_column("tracks", sa.Column("image_url", sa.Text(), nullable=True))
    op.add_column("tracks", sa.Column("image_file_id", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("tracks", "image_file_id")  # SQLite 3.35+ drops them in place too
    op.drop_column("tracks", "image_url")
