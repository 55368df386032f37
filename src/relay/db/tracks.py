"""``TrackIndex``: every query and write on the ``tracks`` table."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from relay.db.models import PublishState, TrackRow
from relay.errors import BadUserInputError

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class TrackOrderField(StrEnum):
    CREATED_AT = "CREATED_AT"
    TITLE = "TITLE"
    DURATION = "DURATION"


@dataclass(frozen=True)
class TrackFilter:
    artist_did: str | None = None
    artist: str | None = None
    album: str | None = None
    file_type: str | None = None
    search: str | None = None
    published: bool | None = None


@dataclass(frozen=True)
class TrackOrder:
    field: TrackOrderField = TrackOrderField.CREATED_AT
    descending: bool = True


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass(frozen=True)
class ArtistStats:
    did: str
    handle: str | None
    tracks: int
    seconds: int


@dataclass(frozen=True)
class TrackPage:
    rows: Sequence[TrackRow]
    cursors: Sequence[str]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def _sort_expression(field: TrackOrderField) -> ColumnElement[Any]:
    if field is TrackOrderField.TITLE:
        return TrackRow.title_key  # type: ignore[return-value]
    if field is TrackOrderField.DURATION:
        return func.coalesce(TrackRow.duration, -1)
    return TrackRow.created_at  # type: ignore[return-value]


def _sort_value(row: TrackRow, field: TrackOrderField) -> Any:
    if field is TrackOrderField.TITLE:
        return row.title_key
    if field is TrackOrderField.DURATION:
        return -1 if row.duration is None else row.duration
    return row.created_at.isoformat()


def encode_cursor(row: TrackRow, order: TrackOrder) -> str:
    payload = json.dumps([order.field.value, _sort_value(row, order.field), row.id])
    return base64.urlsafe_b64encode(payload.encode()).decode()


def _decode_cursor(cursor: str, order: TrackOrder) -> tuple[Any, int]:
    try:
        field, value, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise BadUserInputError("invalid pagination cursor") from exc
    if field != order.field.value or not isinstance(row_id, int):
        raise BadUserInputError("the cursor belongs to a different ordering")
    if order.field is TrackOrderField.CREATED_AT:
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise BadUserInputError("invalid pagination cursor") from exc
    return value, row_id


def _beyond(order: TrackOrder, cursor: str, *, forward: bool) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before the cursor in the given ordering."""
    value, row_id = _decode_cursor(cursor, order)
    expr = _sort_expression(order.field)
    ascending = forward != order.descending
    if ascending:
        return or_(expr > value, and_(expr == value, TrackRow.id > row_id))
    return or_(expr < value, and_(expr == value, TrackRow.id < row_id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(flt: TrackFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [TrackRow.hidden.is_(False)]
    if flt.artist_did:
        clauses.append(TrackRow.artist_did == flt.artist_did)
    if flt.artist:
        clauses.append(TrackRow.artist_key == flt.artist.strip().casefold())
    if flt.album:
        clauses.append(TrackRow.album_key == flt.album.strip().casefold())
    if flt.file_type:
        clauses.append(TrackRow.file_type == flt.file_type)
    if flt.published is not None:
        published = TrackRow.publish_state == PublishState.PUBLISHED
        clauses.append(published if flt.published else ~published)
    if flt.search and flt.search.strip():
        pattern = f"%{_escape_like(flt.search.strip().casefold())}%"
        clauses.append(TrackRow.search_text.like(pattern, escape="\\"))
    return clauses


def _ordered(stmt: Select[Any], order: TrackOrder, *, forward: bool) -> Select[Any]:
    expr = _sort_expression(order.field)
    ascending = forward != order.descending
    if ascending:
        return stmt.order_by(expr.asc(), TrackRow.id.asc())
    return stmt.order_by(expr.desc(), TrackRow.id.desc())


class TrackIndex:
    """The tracks table. Each method runs in its own transaction unless a session is given."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, track_id: int) -> TrackRow | None:
        async with self._sessions() as db:
            return await db.get(TrackRow, track_id)

    async def get_by_uri(self, uri: str) -> TrackRow | None:
        async with self._sessions() as db:
            return (await db.execute(select(TrackRow).where(TrackRow.uri == uri))).scalar()

    async def get_many_by_uri(self, uris: Sequence[str]) -> dict[str, TrackRow]:
        """Visible tracks by AT-URI (tracks of hidden accounts are left out)."""
        async with self._sessions() as db:
            stmt = select(TrackRow).where(TrackRow.uri.in_(uris), TrackRow.hidden.is_(False))
            return {row.uri: row for row in (await db.execute(stmt)).scalars()}

    async def did_for_handle(self, handle: str) -> str | None:
        async with self._sessions() as db:
            stmt = select(TrackRow.artist_did).where(TrackRow.artist_handle == handle).limit(1)
            return (await db.execute(stmt)).scalar()

    async def artist_stats(self, dids: Sequence[str]) -> dict[str, ArtistStats]:
        """Handle, visible track count and total duration per DID, in one query."""
        async with self._sessions() as db:
            stmt = (
                select(
                    TrackRow.artist_did,
                    func.max(TrackRow.artist_handle),
                    func.count(),
                    func.coalesce(func.sum(TrackRow.duration), 0),
                )
                .where(TrackRow.artist_did.in_(dids), TrackRow.hidden.is_(False))
                .group_by(TrackRow.artist_did)
            )
            return {
                did: ArtistStats(did=did, handle=handle, tracks=int(count), seconds=int(total or 0))
                for did, handle, count, total in (await db.execute(stmt)).all()
            }

    async def insert(self, row: TrackRow) -> TrackRow:
        row.derive_keys()
        async with self._sessions() as db, db.begin():
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

    async def claim_for_publish(
        self, track_id: int, states: Sequence[PublishState], *, lease_until: datetime
    ) -> bool:
        """Move a track to PUBLISHING (retried after ``lease_until`` if the writer dies) if it is
        in one of ``states``; False if someone else did."""
        async with self._sessions() as db, db.begin():
            result = await db.execute(
                update(TrackRow)
                .where(TrackRow.id == track_id, TrackRow.publish_state.in_(list(states)))
                .values(
                    publish_state=PublishState.PUBLISHING,
                    publish_error=None,
                    next_publish_at=lease_until,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    async def delete(self, track_id: int) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(TrackRow).where(TrackRow.id == track_id))

    async def file_in_use(self, file_id: str, *, excluding: int | None = None) -> bool:
        """Whether a track other than ``excluding`` references the stored object ``file_id``."""
        async with self._sessions() as db:
            clause = TrackRow.file_id == file_id
            if excluding is not None:
                clause = and_(clause, TrackRow.id != excluding)
            return bool((await db.execute(select(exists().where(clause)))).scalar())

    async def due_for_publish(self, now: datetime, limit: int = 20) -> list[TrackRow]:
        async with self._sessions() as db:
            stmt = (
                select(TrackRow)
                .where(
                    TrackRow.publish_state.in_([PublishState.FAILED, PublishState.PUBLISHING]),
                    TrackRow.next_publish_at.is_not(None),
                    TrackRow.next_publish_at <= now,
                )
                .order_by(TrackRow.next_publish_at)
                .limit(limit)
            )
            return list((await db.execute(stmt)).scalars())

    async def page(self, flt: TrackFilter, order: TrackOrder, req: PageRequest) -> TrackPage:
        if req.first is not None and req.last is not None:
            raise BadUserInputError("pass either first or last, not both")
        for name, size in (("first", req.first), ("last", req.last)):
            if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
                raise BadUserInputError(f"{name} must be between 0 and {MAX_PAGE_SIZE}")
        forward = req.last is None
        requested = req.first if forward else req.last
        size = DEFAULT_PAGE_SIZE if requested is None else requested
        where = _where(flt)
        cursor = req.after if forward else req.before
        other = req.before if forward else req.after
        stmt = select(TrackRow).where(*where)
        if cursor:
            stmt = stmt.where(_beyond(order, cursor, forward=forward))
        if other:
            stmt = stmt.where(_beyond(order, other, forward=not forward))
        stmt = _ordered(stmt, order, forward=forward).limit(size + 1)
        async with self._sessions() as db:
            rows = list((await db.execute(stmt)).scalars())
            total = (
                await db.execute(select(func.count()).select_from(TrackRow).where(*where))
            ).scalar_one()
            before_exists = False
            if cursor:
                back = select(exists().where(*where, ~_beyond(order, cursor, forward=forward)))
                before_exists = bool((await db.execute(back)).scalar())
        more = len(rows) > size
        rows = rows[:size]
        if not forward:
            rows.reverse()
        has_next, has_previous = (more, before_exists) if forward else (before_exists, more)
        return TrackPage(
            rows=rows,
            cursors=[encode_cursor(row, order) for row in rows],
            has_next_page=has_next,
            has_previous_page=has_previous,
            total_count=int(total),
        )
