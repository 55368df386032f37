"""record tombstones: records deleted at a known revision, so that an older copy arriving later
(the firehose's late echo of an earlier commit, a listing read before the delete) does not bring
a deleted track, like or list back

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_tombstones",
        sa.Column("uri", sa.String(512), primary_key=True),
        sa.Column("rev", sa.String(64), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_record_tombstones_deleted_at", "record_tombstones", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_record_tombstones_deleted_at", table_name="record_tombstones")
    op.drop_table("record_tombstones")
