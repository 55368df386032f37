"""artist versions: for each artist, the index version at which their tracks last changed — so a
cached answer about one artist (a track, an artist page) outlives changes to everyone else's
(``relay.db.index_version``)

Kept by the same triggers as ``index_state``, in the writing transaction: the artist's row takes
the version that transaction moved ``index_state`` to. On PostgreSQL that happens at the commit,
under the ``index_state`` row lock, so versions follow commit order there too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BUMP = "UPDATE index_state SET version = version + 1 WHERE id = 1"
_EVENTS = ("insert", "update", "delete")


def _note(row: str) -> str:
    """SQLite: give ``row``'s artist the version just bumped to."""
    return (
        "INSERT INTO artist_versions (artist_did, version) "
        f"SELECT {row}.artist_did, version FROM index_state WHERE id = 1 "
        "ON CONFLICT (artist_did) DO UPDATE SET version = excluded.version"
    )


_SQLITE_ROWS = {"insert": ("new",), "update": ("new", "old"), "delete": ("old",)}

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION relay_index_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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
        INSERT INTO artist_versions (artist_did, version) VALUES (NEW.artist_did, moved)
        ON CONFLICT (artist_did) DO UPDATE SET version = EXCLUDED.version
        WHERE artist_versions.version < EXCLUDED.version;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO artist_versions (artist_did, version) VALUES (OLD.artist_did, moved)
        ON CONFLICT (artist_did) DO UPDATE SET version = EXCLUDED.version
        WHERE artist_versions.version < EXCLUDED.version;
    END IF;
    RETURN NULL;
END $$
"""

_POSTGRES_FUNCTION_0006 = (
    "CREATE OR REPLACE FUNCTION relay_index_changed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF current_setting('relay.index_bumped', true) IS DISTINCT FROM "
    "txid_current()::text THEN "
    f"{_BUMP}; "
    "PERFORM set_config('relay.index_bumped', txid_current()::text, true); "
    "END IF; RETURN NULL; END $$"
)


def upgrade() -> None:
    op.create_table(
        "artist_versions",
        sa.Column("artist_did", sa.String(256), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_artist_versions_version", "artist_versions", ["version"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        return
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER index_state_{event}")
        notes = "; ".join(_note(row) for row in _SQLITE_ROWS[event])
        op.execute(
            f"CREATE TRIGGER index_state_{event} AFTER {event.upper()} ON tracks "
            f"BEGIN {_BUMP}; {notes}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION_0006)
    else:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER index_state_{event}")
            op.execute(
                f"CREATE TRIGGER index_state_{event} AFTER {event.upper()} ON tracks "
                f"BEGIN {_BUMP}; END"
            )
    op.drop_index("ix_artist_versions_version", "artist_versions")
    op.drop_table("artist_versions")
