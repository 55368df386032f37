"""Subscriptions over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from relay.db.models import PublishState, TrackRow
from relay.graphql.context import RelayContext
from relay.graphql.inputs import TrackFilter
from relay.graphql.types import Track, TrackEvent, TrackEventKind

Info = strawberry.Info[RelayContext, None]


def matches(row: TrackRow, where: TrackFilter | None) -> bool:
    if row.hidden:
        return False
    if where is None:
        return True
    text = "\n".join(p.casefold() for p in (row.title, row.artist, row.album or ""))
    checks = [
        where.artist_did is None or row.artist_did == where.artist_did,
        where.artist is None or row.artist.casefold() == where.artist.strip().casefold(),
        where.album is None or (row.album or "").casefold() == where.album.strip().casefold(),
        where.file_type is None or row.file_type == where.file_type.value,
        not where.search or where.search.strip().casefold() in text,
        where.published is None or (row.publish_state == PublishState.PUBLISHED) == where.published,
    ]
    return all(checks)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Tracks created, updated or deleted in the index, as they are indexed."
    )
    async def track_events(
        self, info: Info, where: TrackFilter | None = None
    ) -> AsyncGenerator[TrackEvent, None]:
        async with info.context.services.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if matches(event.row, where):
                    yield TrackEvent(
                        kind=TrackEventKind(event.kind),
                        uri=event.uri,
                        track=Track.from_row(event.row),
                    )
