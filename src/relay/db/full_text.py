"""Full-text search in each database's own index: SQLite FTS5 (``tracks_fts``, kept by triggers)
and PostgreSQL ``tsvector`` (``tracks.search_vector``, a generated column with a GIN index) — both
built from ``tracks.search_text`` (see ``text_search``), so both find the same tracks.

Relevance weighs a word found in the title above one in the artist, and that above the album
(1.0, 0.4, 0.2 on both); higher is better.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR

from relay.db.models import TrackRow
from relay.db.text_search import SearchQuery

TITLE, ARTIST, ALBUM = 1.0, 0.4, 0.2


class FullText(Protocol):
    def found(self, query: SearchQuery) -> ColumnElement[bool]:
        """A condition on ``tracks``: the track is found."""

    def ranked(
        self, stmt: Select[Any], query: SearchQuery
    ) -> tuple[Select[Any], ColumnElement[float]]:
        """``stmt`` narrowed to the tracks found, and their relevance (for ordering)."""


class SqliteFullText:
    _fts = sql_table("tracks_fts", column("rowid", Integer), column("tracks_fts"))

    def _match(self, query: SearchQuery) -> ColumnElement[bool]:
        return self._fts.c.tracks_fts.op("MATCH")(literal(query.fts5()))

    def found(self, query: SearchQuery) -> ColumnElement[bool]:
        if not query.words:
            return false()
        inner = select(self._fts.c.rowid).where(self._match(query))
        return TrackRow.id.in_(inner)

    def ranked(
        self, stmt: Select[Any], query: SearchQuery
    ) -> tuple[Select[Any], ColumnElement[float]]:
        if not query.words:
            return stmt.where(false()), literal(0.0, Float)
        joined = stmt.join(self._fts, self._fts.c.rowid == TrackRow.id).where(self._match(query))
        score = -func.bm25(self._fts.c.tracks_fts, TITLE, ARTIST, ALBUM, type_=Float)
        return joined, score


class PostgresFullText:
    def _vector_of_tracks(self) -> ColumnElement[Any]:
        # Not mapped on TrackRow: the database computes it, and SQLite has no such column.
        return literal_column("tracks.search_vector", TSVECTOR)

    def found(self, query: SearchQuery) -> ColumnElement[bool]:
        if not query.words:
            return false()
        tsquery = cast(literal(query.tsquery()), TSQUERY)
        return self._vector_of_tracks().op("@@")(tsquery)

    def ranked(
        self, stmt: Select[Any], query: SearchQuery
    ) -> tuple[Select[Any], ColumnElement[float]]:
        if not query.words:
            return stmt.where(false()), literal(0.0, Float)
        weights: ColumnElement[Any] = literal_column(
            f"'{{0,{ALBUM},{ARTIST},{TITLE}}}'::real[]"
        )  # D, C, B, A
        vector = self._vector_of_tracks()
        # One rank per word, added: ts_rank of an AND of words weighs how close they stand, and
        # the index keeps no word positions (every word is at position 1).
        parts = [
            func.ts_rank(weights, vector, cast(literal(query.tsquery(word)), TSQUERY), type_=Float)
            for word in query.words
        ]
        score: ColumnElement[float] = parts[0]
        for part in parts[1:]:
            score = score + part
        return stmt.where(self.found(query)), score


def full_text_for(dialect: str) -> FullText:
    """The full-text search of a database by its SQLAlchemy dialect name."""
    if dialect == "postgresql":
        return PostgresFullText()
    return SqliteFullText()
