"""Full-text search in each database's own index: SQLite FTS5 (``tracks_fts``, kept by triggers)
and PostgreSQL ``tsvector`` (``tracks.search_vector``, a generated column with a GIN index) — both
built from ``tracks.search_text`` (see ``text_search``), so both find the same tracks.

How a search runs depends on how many tracks it finds. PostgreSQL's planner knows that from its
statistics of the words. SQLite's does not (it would walk every track for a rare word, or
collect every match of a common one), so relay asks first — a bounded look at the index
(``is_common``, at most ``COMMON`` entries read):
- a rare search starts from the full-text index and sorts what it found;
- a common one walks the page's ordering (an index) and tests each track's words directly
  (the same test as the index's, on ``search_text``): the page fills after a few rows.
Either way no search reads every track or every match — except ``count``, asked only for
``totalCount``.

Relevance weighs a word found in the title above one in the artist, and that above the album
(1.0, 0.4, 0.2 on both); higher is better. Relevance ranks a search's ``COMMON`` most recently
indexed matches (all of them when there are fewer): ranking every match of a word found in most
tracks would read them all.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
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
from relay.db.reads import Reads
from relay.db.text_search import SearchQuery

TITLE, ARTIST, ALBUM = 1.0, 0.4, 0.2
COMMON = 2000
"""A search that finds more tracks than this is common (see the module's doc)."""


class Ranked(NamedTuple):
    """A search's hits: ``rows``, a statement of (id, relevance) rows, and those two columns —
    what a page orders, cuts by its cursor and its size, and only then joins to the tracks it
    shows (joining every hit first made PostgreSQL read the whole table: a hash join)."""

    rows: Select[*tuple[Any, ...]]
    score: ColumnElement[float]
    row_id: ColumnElement[int]


_ID: ColumnElement[int] = TrackRow.__table__.c.id


class FullText(Protocol):
    async def is_common(self, reads: Reads, query: SearchQuery) -> bool:
        """Whether ``query`` finds more than ``COMMON`` tracks (reads at most that many)."""

    def found(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Select[Any]:
        """``stmt`` (on ``tracks``) narrowed to the tracks found."""

    def ranked(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Ranked:
        """The tracks ``stmt`` (on ``tracks``) finds, as rows of their id and relevance."""


def _words_present(query: SearchQuery) -> Any:
    """Every word of ``query`` begins a word of ``tracks.search_text`` — tested on the text
    itself: words are separated by one space or newline there, so " word" found in " " + the
    text is a word's start."""
    spaced = literal(" ") + func.replace(TrackRow.search_text, func.char(10), literal(" "))
    return and_(*(func.instr(spaced, literal(" " + word)) > 0 for word in query.words))


class _Threshold:
    def __init__(self, common: int = COMMON, ranked: int = COMMON) -> None:
        self.common = common
        self.ranks = ranked


class SqliteFullText(_Threshold):
    _fts = sql_table("tracks_fts", column("rowid", Integer), column("tracks_fts"))

    def _match(self, query: SearchQuery) -> ColumnElement[bool]:
        return self._fts.c.tracks_fts.op("MATCH")(literal(query.fts5()))

    async def is_common(self, reads: Reads, query: SearchQuery) -> bool:
        if not query.words:
            return False
        some = select(self._fts.c.rowid).where(self._match(query)).limit(self.common + 1).subquery()
        found = await reads.scalar(select(func.count()).select_from(some))
        return int(found) > self.common

    def _from_index(self, stmt: Select[Any]) -> Select[Any]:
        # The index drives: "+rowid" keeps SQLite from turning the join around (tracks in the
        # order of the page, the index asked about each row — thousands of times slower).
        return stmt.select_from(self._fts).join(
            TrackRow, TrackRow.id == literal_column("+tracks_fts.rowid")
        )

    def found(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Select[Any]:
        if not query.words:
            return stmt.where(false())
        if common:
            return stmt.where(_words_present(query))
        return self._from_index(stmt).where(self._match(query))

    def ranked(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Ranked:
        if not query.words:
            return _nothing(stmt)
        score = -func.bm25(self._fts.c.tracks_fts, TITLE, ARTIST, ALBUM, type_=Float)
        if not common:
            found = self._from_index(stmt).where(self._match(query))
            return Ranked(found.with_only_columns(_ID, score), score, _ID)
        newest = (
            select(self._fts.c.rowid.label("id"), score.label("score"))
            .where(self._match(query))
            .order_by(self._fts.c.rowid.desc())
            .limit(self.ranks)
            .subquery("candidates")
        )
        joined = stmt.select_from(newest).join(
            TrackRow, TrackRow.id == literal_column("+candidates.id")
        )
        return Ranked(joined.with_only_columns(_ID, newest.c.score), newest.c.score, _ID)


def _nothing(stmt: Select[Any]) -> Ranked:
    """No hits (a search of no words)."""
    score: ColumnElement[float] = literal(0.0, Float)
    return Ranked(stmt.with_only_columns(_ID, score).where(false()), score, _ID)


def _tsquery(query: SearchQuery, word: str | None = None) -> ColumnElement[Any]:
    # Written into the statement (quoted as any literal): a prepared statement's generic plan
    # cannot tell a rare word from a common one, and picked the slow plan for both.
    return cast(literal(query.tsquery(word), literal_execute=True), TSQUERY)


class PostgresFullText(_Threshold):
    def _vector(self) -> ColumnElement[Any]:
        # Not mapped on TrackRow: the database computes it, and SQLite has no such column.
        return literal_column("tracks.search_vector", TSVECTOR)

    def _match(self, query: SearchQuery, word: str | None = None) -> ColumnElement[bool]:
        return self._vector().op("@@")(_tsquery(query, word))

    async def is_common(self, reads: Reads, query: SearchQuery) -> bool:
        # PostgreSQL knows: its statistics of the words estimate how many tracks a search
        # finds, and its planner picks the plan (a bounded look would read the GIN index's
        # whole answer, which it cannot cut short).
        return False

    def found(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Select[Any]:
        if not query.words:
            return stmt.where(false())
        return stmt.where(self._match(query))

    def ranked(self, stmt: Select[Any], query: SearchQuery, *, common: bool) -> Ranked:
        if not query.words:
            return _nothing(stmt)
        weights: ColumnElement[Any] = literal_column(f"'{{0,{ALBUM},{ARTIST},{TITLE}}}'::real[]")
        # One rank per word, added: ts_rank of an AND of words weighs how close they stand, and
        # the index keeps no word positions (every word is at position 1).
        parts = [
            func.ts_rank(weights, self._vector(), _tsquery(query, word)) for word in query.words
        ]
        score: ColumnElement[float] = parts[0]
        for part in parts[1:]:
            score = score + part
        # The 2,000 newest tracks the filter lets through that match, each with its rank: read
        # from ix_tracks_id_words (migration 0010: id, with the words and what visibility asks
        # for), newest first, without touching the table; only a page's tracks are read from it
        # (the hits are not joined to ``tracks`` again: the filter is already applied).
        newest = (
            stmt.with_only_columns(TrackRow.id.label("id"), score.label("rank"))
            .where(self._match(query))
            .order_by(TrackRow.id.desc())
            .limit(self.ranks)
            .subquery("candidates")
        )
        return Ranked(select(newest.c.id, newest.c.rank), newest.c.rank, newest.c.id)


def full_text_for(dialect: str, *, common: int = COMMON, ranked: int = COMMON) -> FullText:
    """The full-text search of a database by its SQLAlchemy dialect name: a search that finds
    more than ``common`` tracks is run as a common one, which ranks its ``ranked`` most recently
    indexed matches."""
    if dialect == "postgresql":
        return PostgresFullText(common, ranked)
    return SqliteFullText(common, ranked)
