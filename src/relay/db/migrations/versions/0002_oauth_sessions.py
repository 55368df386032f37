"""oauth sessions: sealed tokens, DPoP keys, pending authorization requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Sessions from 0001 kept PDS tokens in plain text; they are dropped (users sign in again).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("refresh_token", existing_type=sa.Text(), nullable=True)
        batch.add_column(sa.Column("issuer", sa.String(512), nullable=True))
        batch.add_column(sa.Column("scope", sa.Text(), nullable=True))
        batch.add_column(sa.Column("token_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("dpop_key", sa.Text(), nullable=True))
    op.create_table(
        "oauth_requests",
        sa.Column("state", sa.String(128), primary_key=True),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("did", sa.String(256), nullable=True),
        sa.Column("pds_url", sa.String(512), nullable=True),
        sa.Column("verifier", sa.Text(), nullable=False),
        sa.Column("dpop_key", sa.Text(), nullable=False),
        sa.Column("app_redirect", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oauth_requests")
    op.execute("DELETE FROM sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("dpop_key")
        batch.drop_column("token_expires_at")
        batch.drop_column("scope")
        batch.drop_column("issuer")
        batch.alter_column("refresh_token", existing_type=sa.Text(), nullable=False)
