"""Query resolvers: thin calls into the track and session services."""

from __future__ import annotations

import strawberry
from strawberry import relay

from relay.domain import FileType, PageRequest
from relay.errors import BadUserInputError
from relay.graphql.context import RelayContext
from relay.graphql.inputs import ListFilterInput, TrackFilter
from relay.graphql.like_types import LikeConnection
from relay.graphql.list_types import ListConnection, MusicList
from relay.graphql.ordering import TrackOrderInput, order_value
from relay.graphql.selections import selects_edge_cursor
from relay.graphql.sync_types import SyncStatus
from relay.graphql.types import Artist, DemoAccount, Instance, Track, TrackConnection, Viewer
from relay.services.likes import LikePageRequest
from relay.services.lists import ListFilter

Info = strawberry.Info[RelayContext, None]


@strawberry.type
class Query:
    @strawberry.field(description="Fetch any object by its global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        try:
            global_id = relay.GlobalID.from_id(id)
        except Exception:
            return None
        if global_id.type_name != "Track":
            return None
        view = await info.context.track_loader.load(global_id.node_id)
        return None if view is None else Track.of(view)

    @strawberry.field(description="One track by its AT-URI.")
    async def track(self, info: Info, uri: str) -> Track | None:
        view = await info.context.track_loader.load(uri)
        return None if view is None else Track.of(view)

    @strawberry.field(description="Tracks in relay's index, filtered, sorted and paginated.")
    async def tracks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        where: TrackFilter | None = None,
        order_by: TrackOrderInput | None = None,
    ) -> TrackConnection:
        reads = info.context.services.reads
        flt = (where or TrackFilter()).value(await info.context.viewer_did())
        order = order_value(order_by)
        page = await reads.page(
            flt, order, PageRequest(first=first, after=after, last=last, before=before)
        )
        return TrackConnection.of(
            page, lambda: reads.count(flt, order), edge_cursors=selects_edge_cursor(info)
        )

    @strawberry.field(description="A musician by DID or handle, with their tracks.")
    async def artist(
        self, info: Info, did: str | None = None, handle: str | None = None
    ) -> Artist | None:
        if (did is None) == (handle is None):
            raise BadUserInputError("pass exactly one of did or handle")
        if did is None:
            assert handle is not None
            did = await info.context.services.reads.did_for_handle(
                handle, await info.context.viewer_did()
            )
            if did is None:
                return None
        view = await info.context.artist_loader.load(did)
        return None if view is None else Artist.of(did, view)

    @strawberry.field(description="Likes by one listener (a DID), newest first.")
    async def likes(
        self, info: Info, by: str, first: int = 20, after: str | None = None
    ) -> LikeConnection:
        page = await info.context.services.likes.page(
            LikePageRequest(first=first, after=after), liker_did=by
        )
        return LikeConnection.of(page)

    @strawberry.field(description="One album or playlist by its AT-URI.")
    async def list(self, info: Info, uri: str) -> MusicList | None:
        view = await info.context.list_loader.load(uri)
        return None if view is None else MusicList.of(view)

    @strawberry.field(description="Albums and playlists, newest first, filtered.")
    async def lists(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        where: ListFilterInput | None = None,
    ) -> ListConnection:
        given = where or ListFilterInput()
        flt = ListFilter(owner_did=given.owner_did, list_type=given.list_type, search=given.search)
        page = await info.context.services.lists.page(flt, first=first, after=after)
        return ListConnection.of(page)

    @strawberry.field(description="Firehose and backfill state (admins only).")
    async def sync_status(self, info: Info) -> SyncStatus:
        await info.context.require_admin()
        return SyncStatus.from_report(await info.context.services.sync.status())

    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info) -> Viewer | None:
        viewer = await info.context.viewer()
        return None if viewer is None else Viewer.of(viewer)

    @strawberry.field(description="Upload limits and, on a sandbox, its demo account.")
    def instance(self, info: Info) -> Instance:
        about = info.context.services.instance
        demo = (
            DemoAccount(handle=about.demo_handle, password=about.demo_password)
            if about.demo_handle and about.demo_password
            else None
        )
        return Instance(
            max_upload_bytes=float(about.max_upload_bytes),
            supported_formats=list(FileType),
            demo_account=demo,
        )
