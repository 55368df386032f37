"""Subscriptions over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from relay.atproto.records import LIKE_NSID, LIST_NSID
from relay.graphql.context import RelayContext
from relay.graphql.enums import TrackEventKind
from relay.graphql.inputs import TrackFilter
from relay.graphql.types import Track, TrackEvent
from relay.services.views import RecordEvent
from relay.services.views import TrackEvent as TrackEventValue

Info = strawberry.Info[RelayContext, None]


@strawberry.type(description="A like indexed or removed: relay's own writes and the network's.")
class LikeEvent:
    kind: TrackEventKind
    uri: str = strawberry.field(description="The app.relay.like record's AT-URI.")
    liker_did: str
    track_uri: str = strawberry.field(description="The track liked (its AT-URI).")


@strawberry.type(description="An album or playlist made, changed or deleted.")
class ListEvent:
    kind: TrackEventKind
    uri: str
    owner_did: str


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
                if isinstance(event, TrackEventValue) and wanted.matches(event.track):
                    yield TrackEvent(
                        kind=event.kind, uri=event.track.uri, track=Track.of(event.track)
                    )

    @strawberry.subscription(
        description="Likes as they are indexed or removed — of one track, or by one listener, "
        "or all (to keep like counts live)."
    )
    async def like_events(
        self, info: Info, track_uri: str | None = None, liker_did: str | None = None
    ) -> AsyncGenerator[LikeEvent, None]:
        async with info.context.services.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if not isinstance(event, RecordEvent) or event.collection != LIKE_NSID:
                    continue
                if track_uri is not None and event.subject_uri != track_uri:
                    continue
                if liker_did is not None and event.did != liker_did:
                    continue
                yield LikeEvent(
                    kind=event.kind, uri=event.uri, liker_did=event.did,
                    track_uri=event.subject_uri or "",
                )  # fmt: skip

    @strawberry.subscription(description="Albums and playlists made, changed or deleted.")
    async def list_events(
        self, info: Info, owner_did: str | None = None
    ) -> AsyncGenerator[ListEvent, None]:
        async with info.context.services.events.subscribe() as queue:
            while True:
                event = await queue.get()
                if not isinstance(event, RecordEvent) or event.collection != LIST_NSID:
                    continue
                if owner_did is None or event.did == owner_did:
                    yield ListEvent(kind=event.kind, uri=event.uri, owner_did=event.did)
