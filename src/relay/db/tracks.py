"""``TrackIndex``: every query and write on the ``tracks`` table."""

from __future__ import annotations

from collections import Counter, namedtuple
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from relay.db.audio_refs import COUNTED_ARTWORK, add_ref, drop_ref, owned_objects
from relay.db.cursors import PageCursors, check_size, decode_cursor
from relay.db.full_text import FullText, Ranked, full_text_for
from relay.db.models import LikeRow, StoredTrackColumns, TrackRow
from relay.db.reads import EngineReads, Reads
from relay.db.tombstones import bury
from relay.db.track_filter import TrackFilter, seen_by, visible
from relay.domain import PageRequest, PublishState, TrackOrder, TrackOrderField
from relay.errors import AudioRemovedError, BadUserInputError

# How many page statements ``TrackIndex`` keeps built, one per shape (filters, order, size).
_STATEMENT_SHAPES = 256
# Every column of tracks, for reads that only read (no ORM objects).
_COLUMNS = tuple(TrackRow.__table__.columns)
# What a page shows and orders by (``StoredTrackColumns``): not the search words, the keys of
# other orderings, the leases or the publish schedule — less for the database to send and for
# the driver to convert, a hundred rows a page.
_SHOWN = {
    "id", "uri", "rkey", "cid", "title", "artist", "album", "audio_url", "image_url", "file_type",
    "duration", "record_created_at", "created_at", "indexed_at", "artist_did", "artist_handle",
    "publish_state", "publish_error", "audio_host", "title_key",
}  # fmt: skip
_PAGE_COLUMNS = tuple(column for column in _COLUMNS if column.name in _SHOWN)
_PAGE_WIDTH = len(_PAGE_COLUMNS)
# A page's rows as named tuples: reading a field is a tuple index (a SQLAlchemy Row looks each
# name up, about 0.5 µs — a page's hundred read models and cursors read two thousand of them).
_PageRow = namedtuple("_PageRow", [column.name for column in _PAGE_COLUMNS])  # type: ignore[misc]


@dataclass(frozen=True)
class PageBounds:
    """How many tracks one page may hold, and how many it holds when the client does not say."""

    default_size: int = 20
    max_size: int = 100


@dataclass(frozen=True)
class Lease:
    """A claim on one track by one publish or delete: ``token`` proves it, ``until`` ends it."""

    token: str
    now: datetime
    until: datetime


@dataclass(frozen=True)
class ArtistStats:
    did: str
    handle: str | None
    tracks: int
    seconds: int


@dataclass(frozen=True)
class TrackPage:
    """A page; whether there are rows past either end is answered when asked (past the cursor
    a page started from, that takes another statement — most clients never ask)."""

    rows: Sequence[StoredTrackColumns]
    cursors: Sequence[str]
    has_next_page: Answer
    has_previous_page: Answer


Answer = Callable[[], Awaitable[bool]]


def _known(value: bool) -> Answer:
    async def known() -> bool:
        return value

    return known


def _sort_expression(
    field: TrackOrderField, score: ColumnElement[float] | None = None
) -> ColumnElement[Any]:
    """What rows are ordered by (the cursor side is ``cursors.sort_value``); ``score`` is the
    relevance of a search."""
    if field in (TrackOrderField.RELEVANCE, TrackOrderField.POPULAR) and score is not None:
        return score
    if field is TrackOrderField.TITLE:
        return TrackRow.title_key  # type: ignore[return-value]
    if field is TrackOrderField.DURATION:
        return func.coalesce(TrackRow.duration, -1)
    return TrackRow.created_at  # type: ignore[return-value]


def _popular(stmt: Select[Any], since: datetime | None) -> tuple[Select[Any], ColumnElement[float]]:
    """``stmt`` narrowed to tracks liked since ``since``, with how many listeners did (active
    accounts; each once) as a last column: the work grows with the window's likes, not with the
    index (``ix_likes_created``)."""
    liked = select(
        LikeRow.subject_uri.label("uri"),
        func.count(func.distinct(LikeRow.liker_did)).label("listeners"),
    ).where(LikeRow.hidden.is_(False))
    if since is not None:
        liked = liked.where(LikeRow.created_at >= since)
    weekly = liked.group_by(LikeRow.subject_uri).subquery("popular")
    score: ColumnElement[float] = weekly.c.listeners
    return stmt.join(weekly, weekly.c.uri == TrackRow.uri).add_columns(score), score


def _beyond(
    order: TrackOrder,
    cursor: str,
    *,
    forward: bool,
    score: ColumnElement[float] | None = None,
    name: str = "cursor",
    row_id: ColumnElement[int] | None = None,
) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before the cursor in the given ordering — as one row
    comparison, which both databases answer with a seek in the ordering's index (an OR of two
    comparisons made a deep page scan every row before it). The cursor's values are parameters
    named as in ``_cursor_values``. ``row_id``: the column of the rows' ids (``tracks.id`` unless
    the rows are a search's ranked hits)."""
    value, cursor_id = decode_cursor(cursor, order.field)
    sort = _sort_expression(order.field, score)
    ids = TrackRow.id if row_id is None else row_id
    key = tuple_(sort, ids)
    bound = tuple_(
        bindparam(f"{name}_value", value, type_=sort.type),
        bindparam(f"{name}_id", cursor_id, type_=TrackRow.id.type),
    )
    ascending = forward != order.descending
    return key > bound if ascending else key < bound


def _cursor_values(order: TrackOrder, cursor: str, name: str = "cursor") -> dict[str, Any]:
    value, row_id = decode_cursor(cursor, order.field)
    return {f"{name}_value": value, f"{name}_id": row_id}


def _ordered(
    stmt: Select[Any],
    order: TrackOrder,
    *,
    forward: bool,
    score: ColumnElement[float] | None = None,
    row_id: ColumnElement[int] | None = None,
) -> Select[Any]:
    expr = _sort_expression(order.field, score)
    ids = TrackRow.id if row_id is None else row_id
    ascending = forward != order.descending
    if ascending:
        return stmt.order_by(expr.asc(), ids.asc())
    return stmt.order_by(expr.desc(), ids.desc())


def _cut(
    stmt: Select[Any],
    order: TrackOrder,
    cursor: str | None,
    other: str | None,
    *,
    forward: bool,
    size: int,
    score: ColumnElement[float] | None = None,
    row_id: ColumnElement[int] | None = None,
) -> Select[Any]:
    """``stmt``'s rows after ``cursor`` and before ``other`` (in the direction read), in the
    page's order, one more than ``size`` (to tell whether another page follows)."""
    if cursor:
        stmt = stmt.where(_beyond(order, cursor, forward=forward, score=score, row_id=row_id))
    if other:
        stmt = stmt.where(
            _beyond(order, other, forward=not forward, score=score, name="other", row_id=row_id)
        )
    return _ordered(stmt, order, forward=forward, score=score, row_id=row_id).limit(size + 1)


def _by_viewer(make: Callable[[ColumnElement[bool]], Executable]) -> dict[bool, Executable]:
    """A statement built once for anonymous readers (False) and once for signed-in ones (True,
    a ``viewer_did`` parameter) from ``make(seen_by(...))``: lookups run many times a request."""
    return {signed_in: make(seen_by("" if signed_in else None)) for signed_in in (False, True)}


def _viewing(viewer_did: str | None, **values: Any) -> dict[str, Any]:
    """The parameters of a ``_by_viewer`` statement."""
    return values if viewer_did is None else {**values, "viewer_did": viewer_did}


_BY_URI = _by_viewer(
    lambda seen: select(*_COLUMNS).where(
        TrackRow.uri.in_(bindparam("uris", expanding=True)), *visible(), seen
    )
)
_DID_FOR_HANDLE = _by_viewer(
    lambda seen: (
        select(TrackRow.artist_did)
        .where(TrackRow.artist_handle == bindparam("handle"), *visible(), seen)
        .limit(1)
    )
)
_ARTIST_STATS = _by_viewer(
    lambda seen: (
        select(
            TrackRow.artist_did,
            func.max(TrackRow.artist_handle),
            func.count(),
            func.coalesce(func.sum(TrackRow.duration), 0),
        )
        .where(TrackRow.artist_did.in_(bindparam("dids", expanding=True)), *visible(), seen)
        .group_by(TrackRow.artist_did)
    )
)


class TrackIndex:
    """The tracks table. Each method runs in its own transaction unless a session is given."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        bounds: PageBounds | None = None,
        full_text: FullText | None = None,
        reads: Reads | None = None,
    ) -> None:
        self._sessions = sessions
        # What only reads (pages, counts, lookups) gets Core rows, none of the ORM's execution
        # machinery — on SQLite in a reader thread (``reads_for``), if given.
        engine = sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self._reads = reads or EngineReads(engine)
        self._bounds = bounds or PageBounds()
        # Searches use the full-text index of the sessions' database unless told otherwise.
        self._text = full_text or full_text_for(sessions.kw["bind"].dialect.name)
        self._statements: dict[tuple[object, ...], Select[Any]] = {}  # by shape (``page``)

    async def get(self, track_id: int) -> TrackRow | None:
        async with self._sessions() as db:
            return await db.get(TrackRow, track_id)

    async def get_by_uri(self, uri: str) -> TrackRow | None:
        async with self._sessions() as db:
            return (await db.execute(select(TrackRow).where(TrackRow.uri == uri))).scalar()

    async def get_many_by_uri(
        self, uris: Sequence[str], viewer_did: str | None
    ) -> dict[str, StoredTrackColumns]:
        """Tracks by AT-URI that ``viewer_did`` may see (not of hidden accounts, not being
        deleted, published or the viewer's own), as plain rows."""
        stmt = _BY_URI[viewer_did is not None]
        rows = await self._reads.all(stmt, _viewing(viewer_did, uris=list(uris)))
        found = [cast(StoredTrackColumns, row) for row in rows]
        return {row.uri: row for row in found}

    async def did_for_handle(self, handle: str, viewer_did: str | None) -> str | None:
        """The DID of an artist with tracks ``viewer_did`` may see, by handle."""
        stmt = _DID_FOR_HANDLE[viewer_did is not None]
        found: str | None = await self._reads.scalar(stmt, _viewing(viewer_did, handle=handle))
        return found

    async def artist_stats(
        self, dids: Sequence[str], viewer_did: str | None
    ) -> dict[str, ArtistStats]:
        """Handle, count and total duration of the tracks ``viewer_did`` may see, per DID, in one
        query."""
        stmt = _ARTIST_STATS[viewer_did is not None]
        rows: Sequence[Any] = await self._reads.all(stmt, _viewing(viewer_did, dids=list(dids)))
        return {
            did: ArtistStats(did=did, handle=handle, tracks=int(count), seconds=int(total or 0))
            for did, handle, count, total in rows
        }

    async def insert(self, row: TrackRow) -> TrackRow:
        """Insert ``row``, counting its audio (and artwork) object in the same transaction (each
        must have been announced with ``AudioRefs.intend`` and stored)."""
        async with self._sessions() as db, db.begin():
            for file_id in owned_objects(row):
                if not await add_ref(db, file_id):
                    raise AudioRemovedError(file_id)
            db.add(row)
        return row

    async def update(self, track_id: int, **values: Any) -> TrackRow | None:
        """The updated row, or None if it is gone — also when it was deleted while this ran (the
        firehose removing a record relay itself just deleted; SQLite has no row locks)."""
        try:
            async with self._sessions() as db, db.begin():
                row = await db.get(TrackRow, track_id, with_for_update=True)
                if row is None:
                    return None
                for name, value in values.items():
                    setattr(row, name, value)
                row.derive_keys()
        except StaleDataError:
            return None
        return row

    async def claim(
        self, track_id: int, lease: Lease, *, publish_from: Sequence[PublishState] = ()
    ) -> bool:
        """Take the track's lease (compare-and-set: only when no live lease is held). With
        ``publish_from``, only a track in one of those states, which moves to PUBLISHING (the
        worker retries it once the lease lapses, should the holder die). False if taken."""
        values: dict[str, Any] = {"lease_token": lease.token, "lease_until": lease.until}
        conditions = [
            TrackRow.id == track_id,
            or_(TrackRow.lease_until.is_(None), TrackRow.lease_until < lease.now),
        ]
        if publish_from:
            conditions.append(TrackRow.publish_state.in_([s.value for s in publish_from]))
            conditions.append(TrackRow.delete_requested_at.is_(None))
            values.update(
                publish_state=PublishState.PUBLISHING.value,
                publish_error=None,
                next_publish_at=lease.until,
            )
        async with self._sessions() as db, db.begin():
            result = await db.execute(update(TrackRow).where(*conditions).values(**values))
            return bool(getattr(result, "rowcount", 0))

    async def release(
        self, track_id: int, lease: Lease, *, keep: bool = False, **values: Any
    ) -> TrackRow | None:
        """Write ``values`` and give the lease back (or ``keep`` it) — only while ``lease`` is
        still held; None if it was lost (lapsed and taken over, or the track is gone). Artwork
        the new values name (``COUNTED_ARTWORK``) is counted and what they no longer name
        uncounted in the same transaction (a new object must have been announced with
        ``AudioRefs.intend`` and stored)."""
        async with self._sessions() as db, db.begin():
            row = await db.get(TrackRow, track_id, with_for_update=True)
            if row is None or row.lease_token != lease.token:
                return None
            held = Counter(getattr(row, name) for name in COUNTED_ARTWORK)
            named = Counter(values.get(name, getattr(row, name)) for name in COUNTED_ARTWORK)
            # Counted before uncounted: an object that only moves between the columns never
            # reaches 0 references, not even inside this transaction.
            for key in sorted(k for k in (named - held).elements() if k is not None):
                if not await add_ref(db, key):
                    raise AudioRemovedError(key)
            for key in sorted(k for k in (held - named).elements() if k is not None):
                await drop_ref(db, key, lease.now)
            for name, value in values.items():
                setattr(row, name, value)
            if not keep:
                row.lease_token, row.lease_until = None, None
            row.derive_keys()
        return row

    async def request_delete(self, track_id: int, lease: Lease) -> bool:
        """Mark a track whose lease is held as being deleted (durably, before the PDS is told)."""
        return (
            await self.release(track_id, lease, keep=True, delete_requested_at=lease.now)
            is not None
        )

    async def due_deletes(self, now: datetime, limit: int) -> list[TrackRow]:
        """Deletes cut short (their process died): requested, and no live lease."""
        async with self._sessions() as db:
            stmt = (
                select(TrackRow)
                .where(
                    TrackRow.delete_requested_at.is_not(None),
                    or_(TrackRow.lease_until.is_(None), TrackRow.lease_until < now),
                )
                .order_by(TrackRow.delete_requested_at)
                .limit(limit)
            )
            return list((await db.execute(stmt)).scalars())

    async def delete(self, track_id: int, lease: Lease, *, rev: str | None = None) -> bool:
        """Delete a track whose lease is held, uncounting its audio in the same transaction (and
        burying its record at ``rev``, the revision its delete was committed at, when known).
        True also when the row is gone already (the firehose may remove it first); False when
        the lease was lost."""
        async with self._sessions() as db, db.begin():
            # One conditional statement: the firehose may delete the row between a read and a
            # delete here (then it has uncounted the audio itself).
            gone = await db.execute(
                delete(TrackRow)
                .where(TrackRow.id == track_id, TrackRow.lease_token == lease.token)
                .returning(
                    TrackRow.uri,
                    TrackRow.file_id,
                    TrackRow.image_file_id,
                    TrackRow.replaced_image_file_id,
                )
            )
            deleted = gone.first()
            if deleted is None:
                return await db.get(TrackRow, track_id) is None
            for file_id in owned_objects(deleted):
                await drop_ref(db, file_id, lease.now)
            if rev is not None:
                await bury(db, deleted.uri, rev, lease.now)
        return True

    async def due_for_publish(self, now: datetime, limit: int) -> list[TrackRow]:
        async with self._sessions() as db:
            stmt = (
                select(TrackRow)
                .where(
                    TrackRow.publish_state.in_([PublishState.FAILED, PublishState.PUBLISHING]),
                    TrackRow.next_publish_at.is_not(None),
                    TrackRow.next_publish_at <= now,
                    TrackRow.delete_requested_at.is_(None),
                )
                .order_by(TrackRow.next_publish_at)
                .limit(limit)
            )
            return list((await db.execute(stmt)).scalars())

    async def _searched(
        self,
        stmt: Select[Any],
        flt: TrackFilter,
        *,
        every_match: bool = False,
    ) -> Select[Any]:
        """``stmt`` narrowed by ``flt`` — its search by the full-text index. ``every_match``:
        the caller reads every match (a count), so the index drives however many there are."""
        stmt = stmt.where(*flt.row_clauses())
        query = flt.search_query()
        if query is None:
            return stmt
        common = not every_match and await self._text.is_common(self._reads, query)
        return self._text.found(stmt, query, common=common)

    async def _hits(self, flt: TrackFilter) -> Ranked:
        """The tracks ``flt`` lets through and its search finds, ranked by relevance: rows of
        their ids and relevance (not the tracks' columns)."""
        query = flt.search_query()
        if query is None:
            raise BadUserInputError("orderBy RELEVANCE needs a search")
        stmt = select(TrackRow.id).where(*flt.row_clauses())
        common = await self._text.is_common(self._reads, query)
        return self._text.ranked(stmt, query, common=common)

    async def _narrowed(
        self,
        stmt: Select[Any],
        flt: TrackFilter,
        order: TrackOrder | None,
        *,
        every_match: bool = False,
    ) -> tuple[Select[Any], ColumnElement[float] | None]:
        """``stmt`` narrowed by ``flt`` (``_searched``) and, in the POPULAR order, to the tracks
        liked in its window, with how many listeners did as the score."""
        stmt = await self._searched(stmt, flt, every_match=every_match)
        if order is not None and order.field is TrackOrderField.POPULAR:
            return _popular(stmt, order.since)
        return stmt, None

    async def page(self, flt: TrackFilter, order: TrackOrder, req: PageRequest) -> TrackPage:
        if req.first is not None and req.last is not None:
            raise BadUserInputError("pass either first or last, not both")
        limit = self._bounds.max_size
        for name, size in (("first", req.first), ("last", req.last)):
            if size is not None:
                check_size(name, size, limit)
        forward = req.last is None
        requested = req.first if forward else req.last
        size = self._bounds.default_size if requested is None else requested
        cursor = req.after if forward else req.before
        other = req.before if forward else req.after
        ranked = order.field is TrackOrderField.RELEVANCE
        # The commonest pages — no search, no popularity, from at most one cursor — run a
        # statement built once for their shape, with this page's values: building one and its
        # cache key anew took ~0.3 ms of a page.
        shape = None
        if flt.search is None and order.field is not TrackOrderField.POPULAR and not other:
            shape = (flt.shape(), order.field, order.direction, forward, bool(cursor), size)
        values: dict[str, Any] = flt.values() | (_cursor_values(order, cursor) if cursor else {})
        built = self._statements.get(shape) if shape is not None else None
        if built is not None:
            found = list(await self._reads.all(built, values))
            score = None
        elif ranked:
            stmt, score = await self._ranked_page(flt, order, cursor, other, forward, size)
            found = list(await self._reads.all(stmt))
        else:
            stmt, score = await self._narrowed(select(*_PAGE_COLUMNS), flt, order)
            stmt = _cut(stmt, order, cursor, other, forward=forward, size=size, score=score)
            if shape is not None:
                if len(self._statements) >= _STATEMENT_SHAPES:
                    self._statements.clear()
                self._statements[shape] = stmt
            found = list(await self._reads.all(stmt))
        before_exists = _known(False)
        if cursor:
            before_exists = self._before(flt, order, cursor, forward=forward)
        more = len(found) > size
        found = found[:size]
        if not forward:
            found.reverse()
        # Plain rows, not ORM objects: a page is only read (the score, if any, is a last column).
        make = _PageRow._make
        rows = [cast(StoredTrackColumns, make(item[:_PAGE_WIDTH])) for item in found]
        has_next, has_previous = (
            (_known(more), before_exists) if forward else (before_exists, _known(more))
        )
        return TrackPage(
            rows=rows,
            cursors=PageCursors(
                rows, order.field, [item[-1] for item in found] if score is not None else None
            ),
            has_next_page=has_next,
            has_previous_page=has_previous,
        )

    async def _ranked_page(
        self,
        flt: TrackFilter,
        order: TrackOrder,
        cursor: str | None,
        other: str | None,
        forward: bool,
        size: int,
    ) -> tuple[Select[Any], ColumnElement[float]]:
        """A page by relevance: the hits ordered and cut to the page first, then joined to the
        tracks shown (with the relevance as a last column)."""
        rows, score, row_id = await self._hits(flt)
        rows = rows.with_only_columns(row_id.label("id"), score.label("relevance"))
        page = _cut(
            rows, order, cursor, other, forward=forward, size=size, score=score, row_id=row_id
        ).subquery("page")
        relevance: ColumnElement[float] = page.c.relevance
        stmt = select(*_PAGE_COLUMNS, relevance).join(page, TrackRow.id == page.c.id)
        return _ordered(stmt, order, forward=forward, score=relevance), relevance

    def _before(self, flt: TrackFilter, order: TrackOrder, cursor: str, *, forward: bool) -> Answer:
        """Whether any row precedes ``cursor`` (in the direction read) — built and asked only
        when a client selects the answer."""

        async def found() -> bool:
            if order.field is TrackOrderField.RELEVANCE:
                stmt, score, row_id = await self._hits(flt)
                beyond = _beyond(order, cursor, forward=forward, score=score, row_id=row_id)
                return await self._reads.scalar(stmt.where(~beyond).limit(1)) is not None
            narrowed, popular = await self._narrowed(select(TrackRow.id), flt, order)
            back = narrowed.where(~_beyond(order, cursor, forward=forward, score=popular)).limit(1)
            return await self._reads.scalar(back) is not None

        return found

    async def count(self, flt: TrackFilter, order: TrackOrder | None = None) -> int:
        """How many tracks match ``flt`` (asked only when a client selects ``totalCount``) and,
        in the POPULAR order, were liked in its window."""
        stmt, _ = await self._narrowed(select(TrackRow.id), flt, order, every_match=True)
        stmt = select(func.count()).select_from(stmt.subquery())
        return int(await self._reads.scalar(stmt))
