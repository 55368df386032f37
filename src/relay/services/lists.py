"""Albums and playlists: ``app.relay.list`` records written to the owner's repo (create, rename,
reorder, add, remove — rewritten with ``swapRecord`` — and delete), indexed by the same path as
lists from the network (``SyncStore``), and read back as pages with their items resolved.

A list's items are strongRefs: a track kept from the list's last version keeps the CID it was
added at (so an edit of the track shows as CHANGED rather than being silently taken in); a track
added now is referenced as indexed now. An album holds its owner's own tracks; a playlist any
published tracks the owner can see. The record is written before the index, as for likes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.atproto.records import LIST_NSID, ListRecord, StrongRef, format_datetime
from relay.db.cursors import check_size
from relay.db.list_index import LIST_CURSORS, ListFilter, ListIndex, StoredList
from relay.db.list_rows import ListUpsert
from relay.db.sync import RecordDelete
from relay.domain import PublishState
from relay.errors import BadUserInputError, ForbiddenError, NotFoundError
from relay.services.record_writer import RecordWriter
from relay.services.sessions import Viewer
from relay.services.track_reads import TrackReads

__all__ = ["ListFilter", "ListView", "Lists"]

LIST_TYPES = ("album", "playlist")
MAX_ITEMS = 500  # the lexicon's bound


@dataclass(frozen=True)
class ListItemView:
    position: int
    track_uri: str
    track_cid: str


@dataclass(frozen=True)
class ListView:
    """One indexed album or playlist, as the API shows it."""

    id: int
    uri: str
    cid: str
    owner_did: str
    owner_handle: str | None
    name: str
    list_type: str
    description: str | None
    image_url: str | None
    item_count: int
    created_at: datetime
    updated_at: str | None

    @classmethod
    def of(cls, row: StoredList) -> ListView:
        return cls(
            id=row.id, uri=row.uri, cid=row.cid, owner_did=row.owner_did,
            owner_handle=row.owner_handle, name=row.name,
            list_type=row.list_type, description=row.description, image_url=row.image_url,
            item_count=row.item_count, created_at=row.created_at, updated_at=row.updated_at,
        )  # fmt: skip


@dataclass(frozen=True)
class ListPageView:
    lists: Sequence[ListView]
    cursors: Sequence[str]
    has_next_page: bool


@dataclass(frozen=True)
class ListChanges:
    """An edit: a new name or description (None: unchanged; "" clears the description), the
    whole new order of track URIs (None: unchanged), and tracks to append."""

    name: str | None = None
    description: str | None = None
    items: Sequence[str] | None = None
    add: Sequence[str] = ()


class Lists:
    def __init__(
        self, *, lists: ListIndex, reads: TrackReads, writer: RecordWriter, max_page: int
    ) -> None:
        self._lists = lists
        self._reads = reads
        self._writer = writer
        self._max_page = max_page

    # -- reads -----------------------------------------------------------------------------

    async def get_many(self, uris: Sequence[str]) -> dict[str, ListView]:
        return {uri: ListView.of(row) for uri, row in (await self._lists.get_many(uris)).items()}

    def window(self, first: int, offset: int) -> None:
        """Refuse a window of items no page may ask for."""
        check_size("first", first, self._max_page)
        if not 0 <= offset <= MAX_ITEMS:
            raise BadUserInputError(f"offset must be between 0 and {MAX_ITEMS}")

    async def items(
        self, list_ids: Sequence[int], *, offset: int = 0, first: int = MAX_ITEMS
    ) -> dict[int, list[ListItemView]]:
        found = await self._lists.items(list_ids, start=offset, count=first)
        return {
            list_id: [ListItemView(i.position, i.track_uri, i.track_cid) for i in items]
            for list_id, items in found.items()
        }

    async def page(self, flt: ListFilter, *, first: int, after: str | None) -> ListPageView:
        check_size("first", first, self._max_page)
        if flt.list_type is not None and len(flt.list_type) > 64:
            raise BadUserInputError("listType is at most 64 characters")
        page = await self._lists.page(flt, first=first, after=after)
        return ListPageView(
            lists=[ListView.of(row) for row in page.lists],
            cursors=[LIST_CURSORS.encode(row.id) for row in page.lists],
            has_next_page=page.has_next_page,
        )

    # -- writes ----------------------------------------------------------------------------

    async def _refs(
        self, viewer: Viewer, uris: Sequence[str], *, list_type: str, kept: dict[str, str]
    ) -> list[StrongRef]:
        """The strongRefs of ``uris``, in order: a track kept from the list's last version keeps
        its CID (``kept``); any other must be a published track the viewer can see (for an
        album, one of theirs)."""
        if len(uris) > MAX_ITEMS:
            raise BadUserInputError(f"a list holds at most {MAX_ITEMS} tracks")
        fresh = [uri for uri in dict.fromkeys(uris) if uri not in kept]
        views = await self._reads.get_many(fresh, viewer.did) if fresh else {}
        refs: list[StrongRef] = []
        for uri in uris:
            if uri in kept:
                refs.append(StrongRef(uri=uri, cid=kept[uri]))
                continue
            view = views.get(uri)
            if view is None:
                raise NotFoundError(f"no track {uri}")
            if view.publish_state is not PublishState.PUBLISHED or view.cid is None:
                raise BadUserInputError(f"{view.title!r} is not published yet")
            if list_type == "album" and view.artist_did != viewer.did:
                raise BadUserInputError("an album holds your own tracks only")
            refs.append(StrongRef(uri=uri, cid=view.cid))
        return refs

    async def _write(
        self, viewer: Viewer, rkey: str, record: ListRecord, swap: str | None
    ) -> ListView:
        # A name or description out of bounds is refused here, before any call.
        ref = await self._writer.put(
            viewer, collection=LIST_NSID, rkey=rkey, record=record, swap=swap, metric="list"
        )
        change = ListUpsert(
            did=viewer.did, rkey=rkey, cid=ref.cid, rev=ref.rev, record=record,
            handle=viewer.handle,
        )  # fmt: skip
        await self._writer.index([change])
        view = (await self.get_many([change.uri])).get(change.uri)
        if view is None:
            raise NotFoundError(f"list {change.uri} was deleted meanwhile")
        return view

    async def create(
        self,
        viewer: Viewer,
        *,
        name: str,
        list_type: str,
        description: str | None,
        items: Sequence[str],
    ) -> ListView:
        if list_type not in LIST_TYPES:
            raise BadUserInputError(f"listType must be one of {', '.join(LIST_TYPES)}")
        if not name.strip():
            raise BadUserInputError("a list needs a name")
        refs = await self._refs(viewer, items, list_type=list_type, kept={})
        record = ListRecord(
            name=name.strip(), list_type=list_type, items=tuple(refs),
            description=description or None, created_at=format_datetime(self._writer.now()),
        )  # fmt: skip
        return await self._write(viewer, self._writer.next_rkey(), record, swap=None)

    async def _owned(self, viewer: Viewer, uri: str) -> tuple[StoredList, list[StrongRef]]:
        row = (await self._lists.get_many([uri])).get(uri)
        if row is None:
            raise NotFoundError(f"no list {uri}")
        if row.owner_did != viewer.did:
            raise ForbiddenError("only the list's owner may change it")
        items = (await self._lists.items([row.id]))[row.id]
        return row, [StrongRef(uri=i.track_uri, cid=i.track_cid) for i in items]

    async def update(self, viewer: Viewer, uri: str, changes: ListChanges) -> ListView:
        """Rename, describe, reorder, add or remove; the record is rewritten in place with
        ``swapRecord`` = the CID relay last saw (changed elsewhere meanwhile: CONFLICT)."""
        row, current = await self._owned(viewer, uri)
        order = list(changes.items) if changes.items is not None else [r.uri for r in current]
        order += [u for u in changes.add if u not in order]
        kept = {ref.uri: ref.cid for ref in current}
        refs = await self._refs(viewer, order, list_type=row.list_type, kept=kept)
        name = row.name if changes.name is None else changes.name.strip()
        if not name:
            raise BadUserInputError("a list needs a name")
        description = row.description if changes.description is None else changes.description
        record = ListRecord(
            name=name, list_type=row.list_type, items=tuple(refs), image_url=row.image_url,
            description=description or None, created_at=row.record_created_at,
            updated_at=format_datetime(self._writer.now()),
        )  # fmt: skip
        return await self._write(viewer, row.rkey, record, swap=row.cid)

    async def delete(self, viewer: Viewer, uri: str) -> None:
        row, _ = await self._owned(viewer, uri)
        rev = await self._writer.delete(
            viewer, collection=LIST_NSID, rkey=row.rkey, metric="delete"
        )
        await self._writer.index([RecordDelete(row.uri, rev=rev)])
