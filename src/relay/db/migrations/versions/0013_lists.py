"""lists: ``app.relay.list`` records — albums and playlists — and their items (strongRefs to
tracks, in order; ``ix_list_items_track`` answers which lists hold a track)

Like ``likes``, their changes move ``index_state`` and not ``artist_versions``. Items change only
with their list's row (a new record CID), so the triggers on ``lists`` move it for both.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BUMP = "UPDATE index_state SET version = version + 1 WHERE id = 1"
_EVENTS = ("insert", "update", "delete")
_TABLES = ("lists",)


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(512), nullable=False, unique=True),
        sa.Column("owner_did", sa.String(256), nullable=False),
        sa.Column("owner_handle", sa.String(256), nullable=True),
        sa.Column("rkey", sa.String(64), nullable=False),
        sa.Column("cid", sa.String(128), nullable=False),
        sa.Column("rev", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("list_type", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("record_created_at", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", sa.String(64), nullable=True),
        sa.Column("indexed_at", UTCDateTime(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_lists_owner", "lists", ["owner_did", "id"])
    op.create_index("ix_lists_type", "lists", ["list_type", "id"])
    op.create_table(
        "list_items",
        sa.Column(
            "list_id",
            sa.Integer(),
            sa.ForeignKey("lists.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("track_uri", sa.String(512), nullable=False),
        sa.Column("track_cid", sa.String(128), nullable=False),
    )
    op.create_index("ix_list_items_track", "list_items", ["track_uri", "list_id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgres:  # migration 0012's function: one bump per transaction, at its commit
            op.execute(
                f"CREATE CONSTRAINT TRIGGER {table}_index_state_change AFTER INSERT OR UPDATE "
                f"OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION relay_index_bump()"
            )
            continue
        for event in _EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_index_state_{event} AFTER {event.upper()} ON {table} "
                f"BEGIN {_BUMP}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_index_state_change ON {table}")
        else:
            for event in _EVENTS:
                op.execute(f"DROP TRIGGER {table}_index_state_{event}")
    op.drop_index("ix_list_items_track", "list_items")
    op.drop_table("list_items")
    op.drop_index("ix_lists_type", "lists")
    op.drop_index("ix_lists_owner", "lists")
    op.drop_table("lists")
