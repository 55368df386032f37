"""repo chains: the last commit relay verified of each artist's repo, stored with the firehose
cursor — a commit withheld across a restart is still noticed at the next one

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repo_chains",
        sa.Column("did", sa.String(256), primary_key=True),
        sa.Column("rev", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("repo_chains")
