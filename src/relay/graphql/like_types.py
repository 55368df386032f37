"""GraphQL types of likes: who liked which track, and what the like's reference finds now."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from relay.domain import RefStatus
from relay.graphql.enums import RefStatus as RefStatusEnum
from relay.services.likes import LikePageView, LikeView

if TYPE_CHECKING:
    from relay.graphql.types import Artist, PageInfo, Track

_TYPES = "relay.graphql.types"


@strawberry.type(
    description="An app.relay.like record: a listener liking a track (a strongRef). Kept when "
    "the track is not indexed: subjectStatus says what the reference finds."
)
class Like:
    uri: str
    liker_did: str
    created_at: datetime
    subject_uri: str
    subject_cid: str = strawberry.field(description="The CID of the version liked.")
    liker_handle: strawberry.Private[str | None]

    @strawberry.field(description="The liked track as indexed now, or null when it is not.")
    async def track(
        self, info: strawberry.Info[Any, Any]
    ) -> Annotated[Track, strawberry.lazy(_TYPES)] | None:
        from relay.graphql.types import Track

        view = await info.context.track_loader.load(self.subject_uri)
        return None if view is None else Track.of(view)

    @strawberry.field(
        description="CURRENT: the track is the version liked; CHANGED: edited since; MISSING: "
        "not in the index (deleted, or never seen)."
    )
    async def subject_status(self, info: strawberry.Info[Any, Any]) -> RefStatusEnum:
        view = await info.context.track_loader.load(self.subject_uri)
        if view is None:
            return RefStatus.MISSING
        return RefStatus.CURRENT if view.cid == self.subject_cid else RefStatus.CHANGED

    @strawberry.field(description="The listener's account (a musician's profile if they have one).")
    async def liker(
        self, info: strawberry.Info[Any, Any]
    ) -> Annotated[Artist, strawberry.lazy(_TYPES)]:
        from relay.graphql.types import Artist

        view = await info.context.artist_loader.load(self.liker_did)
        return Artist.of(self.liker_did, view, handle=self.liker_handle)

    @classmethod
    def of(cls, like: LikeView) -> Like:
        return cls(
            uri=like.uri, liker_did=like.liker_did, created_at=like.created_at,
            subject_uri=like.subject_uri, subject_cid=like.subject_cid,
            liker_handle=like.liker_handle,
        )  # fmt: skip


@strawberry.type
class LikeEdge:
    cursor: str
    node: Like


@strawberry.type(description="A page of likes, newest first.")
class LikeConnection:
    edges: list[LikeEdge]
    page_info: Annotated[PageInfo, strawberry.lazy(_TYPES)]

    @classmethod
    def of(cls, page: LikePageView) -> LikeConnection:
        from relay.graphql.types import PageInfo

        cursors = page.cursors

        async def next_page() -> bool:
            return page.has_next_page

        async def previous_page() -> bool:
            return False  # likes page forward only

        return cls(
            edges=[
                LikeEdge(cursor=c, node=Like.of(like))
                for c, like in zip(cursors, page.likes, strict=True)
            ],
            page_info=PageInfo(
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
                next_page=next_page,
                previous_page=previous_page,
            ),
        )
