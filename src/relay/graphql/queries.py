"""Query resolvers: thin calls into the track and session services."""

from __future__ import annotations

import strawberry
from strawberry import relay

from relay.db.tracks import PageRequest
from relay.db.tracks import TrackFilter as FilterValue
from relay.errors import BadUserInputError
from relay.graphql.context import RelayContext
from relay.graphql.inputs import TrackFilter
from relay.graphql.ordering import TrackOrderInput, order_value
from relay.graphql.sync_types import SyncStatus
from relay.graphql.types import (
    Artist,
    DemoAccount,
    FileType,
    Instance,
    Track,
    TrackConnection,
    Viewer,
)

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
        row = await info.context.track_loader.load(global_id.node_id)
        return None if row is None else Track.from_row(row)

    @strawberry.field(description="One track by its AT-URI.")
    async def track(self, info: Info, uri: str) -> Track | None:
        row = await info.context.track_loader.load(uri)
        return None if row is None else Track.from_row(row)

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
        flt = where or TrackFilter()
        page = await info.context.services.tracks.page(
            FilterValue(
                artist_did=flt.artist_did,
                artist=flt.artist,
                album=flt.album,
                file_type=flt.file_type.value if flt.file_type else None,
                search=flt.search,
                published=flt.published,
            ),
            order_value(order_by),
            PageRequest(first=first, after=after, last=last, before=before),
        )
        return TrackConnection.from_page(page)

    @strawberry.field(description="A musician by DID or handle, with their tracks.")
    async def artist(
        self, info: Info, did: str | None = None, handle: str | None = None
    ) -> Artist | None:
        if (did is None) == (handle is None):
            raise BadUserInputError("pass exactly one of did or handle")
        if did is None:
            assert handle is not None
            did = await info.context.services.tracks.did_for_handle(handle)
            if did is None:
                return None
        stats = await info.context.artist_loader.load(did)
        return None if stats is None else Artist.from_stats(did, stats)

    @strawberry.field(description="Firehose and backfill state (admins only).")
    async def sync_status(self, info: Info) -> SyncStatus:
        await info.context.require_admin()
        return SyncStatus.from_report(await info.context.services.sync.status())

    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info) -> Viewer | None:
        viewer = await info.context.viewer()
        return None if viewer is None else Viewer.from_value(viewer)

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
