"""profiles: indexed artists' ``app.bsky.actor.profile`` records (display name, description, the
avatar blob's CID and the PDS that serves it)

A profile is shown on its artist's pages, so its changes move that artist's version in
``artist_versions`` (migration 0008) as well as ``index_state``: a cached artist page is
answered afresh after their profile changes, and only then.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.models import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BUMP = "UPDATE index_state SET version = version + 1 WHERE id = 1"
_EVENTS = ("insert", "update", "delete")
_SQLITE_ROWS = {"insert": ("new",), "update": ("new", "old"), "delete": ("old",)}
# Migration 0008's function, for a table whose artist column is ``did``.
_POSTGRES_FUNCTION = """
CREATE FUNCTION relay_profile_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved bigint;
BEGIN
    IF current_setting('relay.index_bumped', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE index_state SET version = version + 1 WHERE id = 1 RETURNING version INTO moved;
        PERFORM set_config('relay.index_bumped', txid_current()::text, true);
        PERFORM set_config('relay.index_version', moved::text, true);
    END IF;
    moved := current_setting('relay.index_version')::bigint;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO artist_versions (artist_did, version) VALUES (NEW.did, moved)
        ON CONFLICT (artist_did) DO UPDATE SET version = EXCLUDED.version
        WHERE artist_versions.version < EXCLUDED.version;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO artist_versions (artist_did, version) VALUES (OLD.did, moved)
        ON CONFLICT (artist_did) DO UPDATE SET version = EXCLUDED.version
        WHERE artist_versions.version < EXCLUDED.version;
    END IF;
    RETURN NULL;
END $$
"""


def _note(row: str) -> str:
    return (
        "INSERT INTO artist_versions (artist_did, version) "
        f"SELECT {row}.did, version FROM index_state WHERE id = 1 "
        "ON CONFLICT (artist_did) DO UPDATE SET version = excluded.version"
    )


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("did", sa.String(256), primary_key=True),
        sa.Column("cid", sa.String(128), nullable=False),
        sa.Column("rev", sa.String(64), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("avatar_cid", sa.String(128), nullable=True),
        sa.Column("avatar_mime", sa.String(128), nullable=True),
        sa.Column("pds_url", sa.String(512), nullable=True),
        sa.Column("indexed_at", UTCDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE CONSTRAINT TRIGGER profiles_index_state_change AFTER INSERT OR UPDATE OR "
            "DELETE ON profiles DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION relay_profile_changed()"
        )
        return
    for event in _EVENTS:
        notes = "; ".join(_note(row) for row in _SQLITE_ROWS[event])
        op.execute(
            f"CREATE TRIGGER profiles_index_state_{event} AFTER {event.upper()} ON profiles "
            f"BEGIN {_BUMP}; {notes}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER profiles_index_state_change ON profiles")
        op.execute("DROP FUNCTION relay_profile_changed()")
    else:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER profiles_index_state_{event}")
    op.drop_table("profiles")
