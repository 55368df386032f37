"""full-text search: ``tracks.search_text`` as words (title, artist, album: one line each),
indexed by SQLite FTS5 (``tracks_fts``, kept by triggers) or a PostgreSQL ``tsvector`` column
with a GIN index

A later migration that rebuilds ``tracks`` on SQLite (``batch_alter_table`` copies the table)
drops the triggers with it: it must create them again (``_sqlite_triggers``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from relay.db.text_search import search_text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def _line(column: str, number: int) -> str:
    """SQLite: line 1, 2 or 3 of a ``search_text`` value (which always has three)."""
    rest = f"substr({column}, instr({column}, char(10)) + 1)"
    if number == 1:
        return f"substr({column}, 1, instr({column}, char(10)) - 1)"
    if number == 2:
        return f"substr({rest}, 1, instr({rest}, char(10)) - 1)"
    return f"substr({rest}, instr({rest}, char(10)) + 1)"


def _lines(column: str) -> str:
    return ", ".join(_line(column, number) for number in (1, 2, 3))


def _sqlite_triggers() -> list[str]:
    new, old = _lines("new.search_text"), _lines("old.search_text")
    insert = f"INSERT INTO tracks_fts (rowid, title, artist, album) VALUES (new.id, {new});"
    # A contentless index forgets a row only when told exactly what it indexed.
    forget = (
        "INSERT INTO tracks_fts (tracks_fts, rowid, title, artist, album) "
        f"VALUES ('delete', old.id, {old});"
    )
    return [
        f"CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN {insert} END",
        f"CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN {forget} END",
        "CREATE TRIGGER tracks_fts_update AFTER UPDATE OF search_text ON tracks "
        f"BEGIN {forget} {insert} END",
    ]


def _postgres_vector() -> str:
    """Each word as a lexeme at position 1, weighted A (title), B (artist) or C (album) — made
    from the words as they are (no parser, dictionary or locale in between)."""

    def line(number: int, weight: str) -> str:
        text = f"split_part(search_text, E'\\n', {number})"
        return f"regexp_replace({text}, '(\\S+)', '\\1:1{weight}', 'g')"

    return f"({line(1, 'A')} || ' ' || {line(2, 'B')} || ' ' || {line(3, 'C')})::tsvector"


def _rewrite_search_text() -> None:
    bind = op.get_bind()
    last = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, title, artist, album FROM tracks WHERE id > :last "
                "ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": _BATCH},
        ).all()
        if not rows:
            return
        bind.execute(
            sa.text("UPDATE tracks SET search_text = :text WHERE id = :id"),
            [{"id": row.id, "text": search_text(row.title, row.artist, row.album)} for row in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    _rewrite_search_text()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE tracks ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS ({_postgres_vector()}) STORED"
        )
        op.execute("CREATE INDEX ix_tracks_search_vector ON tracks USING gin (search_vector)")
        return
    op.execute(
        "CREATE VIRTUAL TABLE tracks_fts USING fts5(title, artist, album, content='', "
        "tokenize='ascii', prefix='1 2 3')"
    )
    for statement in _sqlite_triggers():
        op.execute(statement)
    lines = _lines("search_text")
    op.execute(
        f"INSERT INTO tracks_fts (rowid, title, artist, album) SELECT id, {lines} FROM tracks"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_tracks_search_vector")
        op.execute("ALTER TABLE tracks DROP COLUMN search_vector")
    else:
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tracks_fts_{trigger}")
        op.execute("DROP TABLE tracks_fts")
    op.execute(
        "UPDATE tracks SET search_text = lower(title) || char(10) || lower(artist) || char(10) "
        "|| lower(coalesce(album, ''))"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE tracks SET search_text = lower(title) || E'\\n' || lower(artist) || E'\\n' "
        "|| lower(coalesce(album, ''))"
    )
