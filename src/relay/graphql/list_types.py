"""GraphQL types of albums and playlists (``app.relay.list``): each item a strongRef resolved to
the indexed track — or shown as changed or missing, never dropped."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from relay.domain import RefStatus
from relay.graphql.enums import RefStatus as RefStatusEnum
from relay.services.lists import ListPageView, ListView

if TYPE_CHECKING:
    from relay.graphql.types import Artist, PageInfo, Track

_TYPES = "relay.graphql.types"


@strawberry.type(description="One place in a list: the track it references, as indexed now.")
class ListItem:
    position: int
    track_uri: str
    track_cid: str = strawberry.field(description="The CID of the version added.")
    status: RefStatusEnum = strawberry.field(
        description="CURRENT: the track as added; CHANGED: edited since; MISSING: not in the "
        "index (deleted, or never seen)."
    )
    track: Annotated[Track, strawberry.lazy(_TYPES)] | None


@strawberry.type(
    name="List",
    description="An app.relay.list record: an album or a playlist, its tracks in order.",
)
class MusicList:
    uri: str
    cid: str
    name: str
    list_type: str = strawberry.field(description='"album" or "playlist" (known values).')
    description: str | None
    image_url: str | None
    item_count: int
    created_at: datetime
    updated_at: datetime | None
    owner_did: str
    list_id: strawberry.Private[int]
    owner_handle: strawberry.Private[str | None]

    @strawberry.field(description="Who made it.")
    async def owner(
        self, info: strawberry.Info[Any, Any]
    ) -> Annotated[Artist, strawberry.lazy(_TYPES)]:
        from relay.graphql.types import Artist

        view = await info.context.artist_loader.load(self.owner_did)
        return Artist.of(self.owner_did, view, handle=self.owner_handle)

    @strawberry.field(
        description="The tracks, in order: `first` of them (at most the page size) from "
        "position `offset` (batched: a page of lists reads its items and tracks in one "
        "statement each)."
    )
    async def items(
        self, info: strawberry.Info[Any, Any], first: int = 100, offset: int = 0
    ) -> list[ListItem]:
        from relay.graphql.types import Track

        info.context.services.lists.window(first, offset)
        items = await info.context.list_items_loader.load((self.list_id, offset, first))
        views = await info.context.track_loader.load_many([i.track_uri for i in items])
        out = []
        for item, view in zip(items, views, strict=True):
            if view is None:
                status = RefStatus.MISSING
            else:
                status = RefStatus.CURRENT if view.cid == item.track_cid else RefStatus.CHANGED
            out.append(
                ListItem(
                    position=item.position,
                    track_uri=item.track_uri,
                    track_cid=item.track_cid,
                    status=status,
                    track=None if view is None else Track.of(view),
                )
            )
        return out

    @classmethod
    def of(cls, view: ListView) -> MusicList:
        updated = (
            datetime.fromisoformat(view.updated_at.replace("Z", "+00:00"))
            if view.updated_at
            else None
        )
        return cls(
            uri=view.uri, cid=view.cid, name=view.name, list_type=view.list_type,
            description=view.description, image_url=view.image_url, item_count=view.item_count,
            created_at=view.created_at, updated_at=updated, owner_did=view.owner_did,
            list_id=view.id, owner_handle=view.owner_handle,
        )  # fmt: skip


@strawberry.type
class ListEdge:
    cursor: str
    node: MusicList


@strawberry.type(description="A page of albums and playlists, newest first.")
class ListConnection:
    edges: list[ListEdge]
    page_info: Annotated[PageInfo, strawberry.lazy(_TYPES)]

    @classmethod
    def of(cls, page: ListPageView) -> ListConnection:
        from relay.graphql.types import PageInfo

        async def next_page() -> bool:
            return page.has_next_page

        async def previous_page() -> bool:
            return False  # lists page forward only

        return cls(
            edges=[
                ListEdge(cursor=cursor, node=MusicList.of(view))
                for cursor, view in zip(page.cursors, page.lists, strict=True)
            ],
            page_info=PageInfo(
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
                next_page=next_page,
                previous_page=previous_page,
            ),
        )
