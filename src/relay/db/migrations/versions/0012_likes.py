"""likes: ``app.relay.like`` records indexed from relay's writes and the network — who liked which
track (a strongRef), kept whether or not the track is indexed

Their changes move the index version (``index_state``) like those of ``tracks``: an answer that
shows a like count is valid only until a like changes. They do not move ``artist_versions``: the
fields an artist-scoped answer may hold (``relay.http.cache_scope``) show no likes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BUMP = "UPDATE index_state SET version = version + 1 WHERE id = 1"
_EVENTS = ("insert", "update", "delete")
# Migration 0008's bump without its artist_versions rows: once per transaction, noting the
# version moved to as that function does (a transaction may change tracks too: whichever trigger
# runs first bumps, the other reads the version it moved to).
_POSTGRES_FUNCTION = """
CREATE FUNCTION relay_index_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
BEGIN
    IF current_setting('relay.index_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE index_state SET version = version + 1 WHERE id = 1 RETURNING version INTO moved;
        PERFORM set_config('relay.index_bumped', txid_current()::text, true);
        PERFORM set_config('relay.index_version', moved::text, true);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "likes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(512), nullable=False, unique=True),
        sa.Column("liker_did", sa.String(256), nullable=False),
        sa.Column("liker_handle", sa.String(256), nullable=True),
        sa.Column("rkey", sa.String(64), nullable=False),
        sa.Column("cid", sa.String(128), nullable=False),
        sa.Column("rev", sa.String(64), nullable=True),
        sa.Column("subject_uri", sa.String(512), nullable=False),
        sa.Column("subject_cid", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("indexed_at", UTCDateTime(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_likes_subject", "likes", ["subject_uri", "liker_did"])
    op.create_index("ix_likes_liker", "likes", ["liker_did", "id"])
    op.create_index("ix_likes_created", "likes", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE CONSTRAINT TRIGGER likes_index_state_change AFTER INSERT OR UPDATE OR DELETE "
            "ON likes DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION relay_index_bump()"
        )
        return
    for event in _EVENTS:
        op.execute(
            f"CREATE TRIGGER likes_index_state_{event} AFTER {event.upper()} ON likes "
            f"BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER likes_index_state_change ON likes")
        op.execute("DROP FUNCTION relay_index_bump()")
    else:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER likes_index_state_{event}")
    op.drop_index("ix_likes_created", "likes")
    op.drop_index("ix_likes_liker", "likes")
    op.drop_index("ix_likes_subject", "likes")
    op.drop_table("likes")
