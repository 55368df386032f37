"""replaced artwork: ``tracks.replaced_image_file_id``, the cover a published track's edit
replaces, still counted (in ``audio_objects``) until its PDS holds the new record — the old
record still shows it meanwhile, and it is shown again should the PDS refuse the edit

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place on both databases, as 0011's columns (SQLite keeps the table's triggers).
    op.add_column("tracks", sa.Column("replaced_image_file_id", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("tracks", "replaced_image_file_id")
