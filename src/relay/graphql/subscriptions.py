"""Subscriptions over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from relay.graphql.context import RelayContext
from relay.graphql.inputs import TrackFilter
from relay.graphql.types import Track, TrackEvent

Info = strawberry.Info[RelayContext, None]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Tracks created, updated or deleted in the index, as they are indexed."
    )
    async def track_events(
        self, info: Info, where: TrackFilter | None = None
    ) -> AsyncGenerator[TrackEvent, None]:
        # A subscriber sees what its queries would: published tracks, and its own others.
        wanted = (where or TrackFilter()).value(await info.context.viewer_did())
        wanted.search_query()  # a search of too many words is refused now, not at an event
        async with info.context.services.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if wanted.matches(event.track):
                    yield TrackEvent(
                        kind=event.kind, uri=event.track.uri, track=Track.of(event.track)
                    )
