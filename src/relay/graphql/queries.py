"""Query resolvers: thin calls into the track and session services."""

from __future__ import annotations

import strawberry
from strawberry import relay

from relay.db.tracks import PageRequest
from relay.db.tracks import TrackFilter as FilterValue
from relay.db.tracks import TrackOrder as OrderValue
from relay.db.tracks import TrackOrderField as OrderFieldValue
from relay.graphql.context import RelayContext
from relay.graphql.inputs import OrderDirection, TrackFilter, TrackOrder
from relay.graphql.types import PageInfo, Track, TrackConnection, TrackEdge, Viewer

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
        order_by: TrackOrder | None = None,
    ) -> TrackConnection:
        flt = where or TrackFilter()
        order = order_by or TrackOrder()
        page = await info.context.services.tracks.page(
            FilterValue(
                artist_did=flt.artist_did,
                artist=flt.artist,
                album=flt.album,
                file_type=flt.file_type.value if flt.file_type else None,
                search=flt.search,
            ),
            OrderValue(
                field=OrderFieldValue(order.field.value),
                descending=order.direction is OrderDirection.DESC,
            ),
            PageRequest(first=first, after=after, last=last, before=before),
        )
        edges = [
            TrackEdge(cursor=cursor, node=Track.from_row(row))
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]
        return TrackConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            total_count=page.total_count,
        )

    @strawberry.field(description="The signed-in user, or null.")
    async def viewer(self, info: Info) -> Viewer | None:
        viewer = await info.context.viewer()
        return None if viewer is None else Viewer.from_value(viewer)
