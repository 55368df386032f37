"""bounded search words, and relevance read from an index on PostgreSQL: a title, artist or album
is searchable by its first 24 words (256 bytes) — ``search_text`` is rewritten where it held
more — and a B-tree on ``id`` carrying each track's words and visibility lets relevance rank the
newest matches without reading the table (``relay.db.full_text``). The bound keeps that index's
entries within PostgreSQL's size limit for a B-tree entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.text_search import search_text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 2000
_INDEX = "ix_tracks_id_words"


def _bound_search_text() -> None:
    """Rewrite ``search_text`` of the tracks whose words go past the bound (few do)."""
    bind = op.get_bind()
    last = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, title, artist, album, search_text FROM tracks WHERE id > :last "
                "ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": _BATCH},
        ).all()
        if not rows:
            return
        changed = [
            {"id": row.id, "text": text}
            for row in rows
            if (text := search_text(row.title, row.artist, row.album)) != row.search_text
        ]
        if changed:
            bind.execute(sa.text("UPDATE tracks SET search_text = :text WHERE id = :id"), changed)
        last = rows[-1].id


def upgrade() -> None:
    _bound_search_text()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX {_INDEX} ON tracks (id) INCLUDE "
            "(search_vector, hidden, delete_requested_at, publish_state)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {_INDEX}")
