"""``ListIndex``: the queries on ``lists`` and ``list_items`` — lists by URI, pages of lists (by
owner, type, name words, or holding a track), and the items of many lists in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from relay.db.cursors import IdCursor
from relay.db.models import ListItemRow, ListRow

LIST_CURSORS = IdCursor("list:", "lists")
_ITEMS = (
    select(ListItemRow.list_id, ListItemRow.position, ListItemRow.track_uri, ListItemRow.track_cid)
    .where(
        ListItemRow.list_id.in_(bindparam("ids", expanding=True)),
        ListItemRow.position >= bindparam("start"),
        ListItemRow.position < bindparam("end"),
    )
    .order_by(ListItemRow.list_id, ListItemRow.position)
)


@dataclass(frozen=True)
class StoredList:
    id: int
    uri: str
    owner_did: str
    owner_handle: str | None
    rkey: str
    cid: str
    name: str
    list_type: str
    description: str | None
    image_url: str | None
    item_count: int
    record_created_at: str
    created_at: datetime
    updated_at: str | None


@dataclass(frozen=True)
class StoredItem:
    position: int
    track_uri: str
    track_cid: str


@dataclass(frozen=True)
class ListFilter:
    owner_did: str | None = None
    list_type: str | None = None
    search: str | None = None  # words of the name, each found in it (any case)
    containing: str | None = None  # a track's URI


@dataclass(frozen=True)
class ListPage:
    lists: Sequence[StoredList]
    has_next_page: bool


def _stored(row: ListRow) -> StoredList:
    return StoredList(
        id=row.id, uri=row.uri, owner_did=row.owner_did, owner_handle=row.owner_handle,
        rkey=row.rkey, cid=row.cid,
        name=row.name, list_type=row.list_type, description=row.description,
        image_url=row.image_url, item_count=row.item_count,
        record_created_at=row.record_created_at, created_at=row.created_at,
        updated_at=row.updated_at,
    )  # fmt: skip


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ListIndex:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        engine = sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self._engine = engine

    async def get_many(self, uris: Sequence[str]) -> dict[str, StoredList]:
        """Lists by URI (of accounts that are active)."""
        if not uris:
            return {}
        stmt = select(ListRow).where(ListRow.uri.in_(list(set(uris))), ListRow.hidden.is_(False))
        async with self._sessions() as db:
            return {row.uri: _stored(row) for row in (await db.execute(stmt)).scalars()}

    async def items(
        self, list_ids: Sequence[int], *, start: int = 0, count: int = 1_000
    ) -> dict[int, list[StoredItem]]:
        """The items of these lists at positions ``start`` to ``start + count``, in order — one
        statement for all of them."""
        found: dict[int, list[StoredItem]] = {list_id: [] for list_id in list_ids}
        if not list_ids:
            return found
        window = {"ids": list(found), "start": start, "end": start + count}
        async with self._engine.connect() as db:
            for list_id, position, uri, cid in await db.execute(_ITEMS, window):
                found[list_id].append(StoredItem(position, uri, cid))
        return found

    async def page(self, flt: ListFilter, *, first: int, after: str | None) -> ListPage:
        """Lists matching ``flt``, newest indexed first."""
        stmt = select(ListRow).where(ListRow.hidden.is_(False))
        if flt.owner_did is not None:
            stmt = stmt.where(ListRow.owner_did == flt.owner_did)
        if flt.list_type is not None:
            stmt = stmt.where(ListRow.list_type == flt.list_type)
        for word in (flt.search or "").casefold().split()[:16]:
            stmt = stmt.where(ListRow.name_key.like(f"%{_escaped(word)}%", escape="\\"))
        if flt.containing is not None:
            holding = select(ListItemRow.list_id).where(ListItemRow.track_uri == flt.containing)
            stmt = stmt.where(ListRow.id.in_(holding))
        if after is not None:
            stmt = stmt.where(ListRow.id < LIST_CURSORS.decode(after))
        stmt = stmt.order_by(ListRow.id.desc()).limit(first + 1)
        async with self._sessions() as db:
            rows = [_stored(row) for row in (await db.execute(stmt)).scalars()]
        return ListPage(rows[:first], has_next_page=len(rows) > first)
