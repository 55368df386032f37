"""GraphQL object types: each maps a read model from the services (never an ORM row)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from relay.domain import PageRequest
from relay.graphql.enums import FileType, PublishState, TrackEventKind
from relay.graphql.ordering import TrackOrderInput, order_value
from relay.graphql.selections import selects_edge_cursor
from relay.services.likes import LikePageRequest
from relay.services.lists import ListFilter
from relay.services.sessions import Viewer as ViewerValue
from relay.services.track_reads import TrackFilter
from relay.services.views import ArtistView, TrackPageView, TrackView

if TYPE_CHECKING:
    from relay.graphql.like_types import LikeConnection
    from relay.graphql.list_types import ListConnection


@strawberry.type(
    description="A track in relay's index; its record lives in the artist's repo. Drafts and "
    "unfinished or failed publishes are seen by their owner only."
)
class Track(relay.Node):
    node_uri: relay.NodeID[str]
    uri: str = strawberry.field(description="The record's AT-URI: at://did/app.relay.track/rkey.")
    rkey: str
    cid: str | None = strawberry.field(description="CID of the record relay last saw on the PDS.")
    title: str
    artist: str
    album: str | None
    audio_url: str
    image_url: str | None = strawberry.field(
        description="Cover artwork from the record (a square image), if it has any."
    )
    file_type: FileType
    duration: int | None = strawberry.field(description="Length in whole seconds.")
    created_at: datetime
    indexed_at: datetime
    artist_did: str
    artist_handle: str | None
    publish_state: PublishState
    publish_error: str | None = strawberry.field(
        description="Why the last publish failed (FAILED tracks)."
    )
    audio_host: str = strawberry.field(description="Host of audioUrl.")
    view: strawberry.Private[TrackView]

    @strawberry.field(
        description="The app.relay.track record exactly as relay writes it to the artist's repo "
        "(for a draft: what publishing will write)."
    )
    def record(self) -> JSON:
        return self.view.record.to_data()  # type: ignore[return-value]  # JSON: any JSON value

    @strawberry.field(
        description="Whether audioUrl is on a host this relay vouches for "
        "(RELAY_PLAYABLE_AUDIO_HOSTS or relay's own storage); others are listed, not played."
    )
    def playable(self, info: strawberry.Info[Any, Any]) -> bool:
        return self.audio_host in info.context.services.playable_hosts

    @strawberry.field(
        description="How many listeners like this track (batched per request; likes of "
        "inactive accounts not counted)."
    )
    async def like_count(self, info: strawberry.Info[Any, Any]) -> int:
        count: int = await info.context.like_count_loader.load(self.uri)
        return count

    @strawberry.field(description="Whether the signed-in caller likes this track (false if none).")
    async def viewer_has_liked(self, info: strawberry.Info[Any, Any]) -> bool:
        liked: bool = await info.context.liked_loader.load(self.uri)
        return liked

    @strawberry.field(description="Who liked this track, newest first.")
    async def likes(
        self, info: strawberry.Info[Any, Any], first: int = 20, after: str | None = None
    ) -> Annotated[LikeConnection, strawberry.lazy("relay.graphql.like_types")]:
        from relay.graphql.like_types import LikeConnection

        page = await info.context.services.likes.page(
            LikePageRequest(first=first, after=after), subject_uri=self.uri
        )
        return LikeConnection.of(page)

    @strawberry.field(description="Albums and playlists that hold this track, newest first.")
    async def lists(
        self, info: strawberry.Info[Any, Any], first: int = 20, after: str | None = None
    ) -> Annotated[ListConnection, strawberry.lazy("relay.graphql.list_types")]:
        from relay.graphql.list_types import ListConnection

        page = await info.context.services.lists.page(
            ListFilter(containing=self.uri), first=first, after=after
        )
        return ListConnection.of(page)

    @strawberry.field(
        description="The artist's account: handle, counts, tracks (batched per request). "
        "`artist` stays the name written in the record."
    )
    async def artist_profile(self, info: strawberry.Info[Any, Any]) -> Artist:
        view = await info.context.artist_loader.load(self.artist_did)
        return Artist.of(self.artist_did, view)

    @classmethod
    def of(cls, view: TrackView) -> Track:
        return cls(
            node_uri=view.uri,
            uri=view.uri,
            rkey=view.rkey,
            cid=view.cid,
            title=view.title,
            artist=view.artist,
            album=view.album,
            audio_url=view.audio_url,
            image_url=view.image_url,
            file_type=view.file_type,
            duration=view.duration,
            created_at=view.created_at,
            indexed_at=view.indexed_at,
            artist_did=view.artist_did,
            artist_handle=view.artist_handle,
            publish_state=view.publish_state,
            publish_error=view.publish_error,
            audio_host=view.audio_host,
            view=view,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: strawberry.Info[Any, Any],
        node_ids: Iterable[str],
        required: bool = False,
    ) -> list[Track | None]:
        views = await info.context.track_loader.load_many(list(node_ids))
        return [None if view is None else cls.of(view) for view in views]


@strawberry.type
class TrackEdge:
    cursor: str
    node: Track


@strawberry.type
class PageInfo:
    start_cursor: str | None
    end_cursor: str | None
    next_page: strawberry.Private[Callable[[], Awaitable[bool]]]
    previous_page: strawberry.Private[Callable[[], Awaitable[bool]]]

    @strawberry.field
    async def has_next_page(self) -> bool:
        return await self.next_page()

    @strawberry.field
    async def has_previous_page(self) -> bool:
        return await self.previous_page()


@strawberry.type(description="A page of tracks (Relay cursor connection).")
class TrackConnection:
    edges: list[TrackEdge]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Tracks matching the filter, on all pages.")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def of(
        cls,
        page: TrackPageView,
        count: Callable[[], Awaitable[int]],
        *,
        edge_cursors: bool = True,
    ) -> TrackConnection:
        """The page as a connection; without ``edge_cursors`` (the document selects no
        ``edges { cursor }``) the edges' cursors are left unencoded, as ``""``."""
        if edge_cursors:
            edges = [
                TrackEdge(cursor=cursor, node=Track.of(view))
                for view, cursor in zip(page.tracks, page.cursors, strict=True)
            ]
        else:
            edges = [TrackEdge(cursor="", node=Track.of(view)) for view in page.tracks]
        return cls(
            edges=edges,
            page_info=PageInfo(
                next_page=page.has_next_page,
                previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            count=count,
        )


@strawberry.type(description="A musician: an atproto account with tracks in the index.")
class Artist:
    did: str
    handle: str | None
    track_count: int
    total_duration: int = strawberry.field(description="Sum of track durations, in seconds.")

    @classmethod
    def of(cls, did: str, view: ArtistView | None, *, handle: str | None = None) -> Artist:
        """The indexed artist, or (no tracks indexed: a listener) an account known only by
        ``handle``, the one a like or list of theirs was indexed with."""
        if view is None:
            return cls(did=did, handle=handle, track_count=0, total_duration=0)
        return cls(
            did=did,
            handle=view.handle,
            track_count=view.track_count,
            total_duration=view.total_duration,
        )

    @strawberry.field(
        description="The name on the account's app.bsky.actor.profile (indexed for accounts "
        "relay indexes records of), if it sets one."
    )
    async def display_name(self, info: strawberry.Info[Any, Any]) -> str | None:
        profile = await info.context.profile_loader.load(self.did)
        return None if profile is None else profile.display_name

    @strawberry.field(description="The profile's description, if any.")
    async def description(self, info: strawberry.Info[Any, Any]) -> str | None:
        profile = await info.context.profile_loader.load(self.did)
        return None if profile is None else profile.description

    @strawberry.field(
        description="The profile's avatar, served by relay from the account's own PDS "
        "(sync.getBlob, checked against the CID the profile names)."
    )
    async def avatar_url(self, info: strawberry.Info[Any, Any]) -> str | None:
        profile = await info.context.profile_loader.load(self.did)
        return None if profile is None else profile.avatar_url

    @strawberry.field(description="This artist's tracks, newest first unless ordered otherwise.")
    async def tracks(
        self,
        info: strawberry.Info[Any, Any],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        order_by: TrackOrderInput | None = None,
    ) -> TrackConnection:
        reads = info.context.services.reads
        flt = TrackFilter(artist_did=self.did, viewer_did=await info.context.viewer_did())
        order = order_value(order_by)
        page = await reads.page(
            flt, order, PageRequest(first=first, after=after, last=last, before=before)
        )
        return TrackConnection.of(
            page, lambda: reads.count(flt, order), edge_cursors=selects_edge_cursor(info)
        )

    @strawberry.field(description="This account's albums and playlists, newest first.")
    async def lists(
        self,
        info: strawberry.Info[Any, Any],
        first: int = 20,
        after: str | None = None,
        list_type: str | None = None,
    ) -> Annotated[ListConnection, strawberry.lazy("relay.graphql.list_types")]:
        from relay.graphql.list_types import ListConnection

        flt = ListFilter(owner_did=self.did, list_type=list_type)
        page = await info.context.services.lists.page(flt, first=first, after=after)
        return ListConnection.of(page)


@strawberry.type(description="A change to the index: relay's own writes and the network's.")
class TrackEvent:
    kind: TrackEventKind
    uri: str
    track: Track = strawberry.field(description="The track as indexed (as it was, if deleted).")


@strawberry.type(description="The signed-in user.")
class Viewer:
    did: str
    handle: str
    pds_url: str

    @classmethod
    def of(cls, viewer: ViewerValue) -> Viewer:
        return cls(did=viewer.did, handle=viewer.handle, pds_url=viewer.pds_url)


@strawberry.type
class LoginPayload:
    token: str = strawberry.field(description="Send as 'Authorization: Bearer <token>'.")
    viewer: Viewer


@strawberry.type
class DeleteTrackPayload:
    deleted_id: strawberry.ID
    uri: str


@strawberry.type(description="A sandbox's demo account (`relay dev` only).")
class DemoAccount:
    handle: str
    password: str


@strawberry.type(description="What a client should know about this relay.")
class Instance:
    max_upload_bytes: float = strawberry.field(
        description="Largest accepted upload, in bytes (a Float: it may exceed 2^31)."
    )
    supported_formats: list[FileType]
    demo_account: DemoAccount | None = strawberry.field(
        description="Set on a local sandbox: an account to sign in with."
    )
