"""GraphQL object types and enums."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from relay.db.models import PublishState as PublishStateValue
from relay.db.models import TrackRow
from relay.db.tracks import ArtistStats, PageRequest, TrackPage
from relay.db.tracks import TrackFilter as FilterValue
from relay.graphql.ordering import TrackOrderInput, order_value
from relay.services.sessions import Viewer as ViewerValue


@strawberry.enum(description="Where a track stands with the musician's PDS.")
class PublishState(Enum):
    DRAFT = "DRAFT"
    PUBLISHING = "PUBLISHING"
    PUBLISHED = "PUBLISHED"
    FAILED = "FAILED"


@strawberry.enum(description="Audio container formats relay accepts.")
class FileType(Enum):
    MP3 = "mp3"
    WAV = "wav"
    OGG = "ogg"
    FLAC = "flac"


@strawberry.type(description="A track in relay's index; its record lives in the artist's repo.")
class Track(relay.Node):
    node_uri: relay.NodeID[str]
    rkey: str
    cid: str | None = strawberry.field(description="CID of the record relay last saw on the PDS.")
    title: str
    artist: str
    album: str | None
    audio_url: str
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
    row: strawberry.Private[TrackRow]

    @strawberry.field(
        description="The app.relay.track record exactly as relay writes it to the artist's repo "
        "(for a draft: what publishing will write)."
    )
    def record(self, info: strawberry.Info[Any, Any]) -> JSON:
        record: dict[str, object] = info.context.services.tracks.record_json(self.row)
        return record  # type: ignore[return-value]  # JSON is a scalar alias of any JSON value

    @strawberry.field(
        description="Whether audioUrl is on a host this relay vouches for "
        "(RELAY_PLAYABLE_AUDIO_HOSTS or relay's own storage); others are listed, not played."
    )
    def playable(self, info: strawberry.Info[Any, Any]) -> bool:
        return self.audio_host in info.context.services.playable_hosts

    @strawberry.field(
        description="The artist's account: handle, counts, tracks (batched per request). "
        "`artist` stays the name written in the record."
    )
    async def artist_profile(self, info: strawberry.Info[Any, Any]) -> Artist:
        stats = await info.context.artist_loader.load(self.artist_did)
        return Artist.from_stats(self.artist_did, stats)

    @strawberry.field(description="The record's AT-URI: at://did/app.relay.track/rkey.")
    def uri(self) -> str:
        return self.node_uri

    @classmethod
    def from_row(cls, row: TrackRow) -> Track:
        return cls(
            node_uri=row.uri,
            rkey=row.rkey,
            cid=row.cid,
            title=row.title,
            artist=row.artist,
            album=row.album,
            audio_url=row.audio_url,
            file_type=FileType(row.file_type),
            duration=row.duration,
            created_at=row.created_at,
            indexed_at=row.indexed_at,
            artist_did=row.artist_did,
            artist_handle=row.artist_handle,
            publish_state=PublishState(PublishStateValue(row.publish_state).value),
            publish_error=row.publish_error,
            audio_host=row.audio_host,
            row=row,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls,
        *,
        info: strawberry.Info[Any, Any],
        node_ids: Iterable[str],
        required: bool = False,
    ) -> list[Track | None]:
        rows = await info.context.track_loader.load_many(list(node_ids))
        return [None if row is None else cls.from_row(row) for row in rows]


@strawberry.type
class TrackEdge:
    cursor: str
    node: Track


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A page of tracks (Relay cursor connection).")
class TrackConnection:
    edges: list[TrackEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Tracks matching the filter, on all pages.")

    @classmethod
    def from_page(cls, page: TrackPage) -> TrackConnection:
        edges = [
            TrackEdge(cursor=cursor, node=Track.from_row(row))
            for row, cursor in zip(page.rows, page.cursors, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            total_count=page.total_count,
        )


@strawberry.type(description="A musician: an atproto account with tracks in the index.")
class Artist:
    did: str
    handle: str | None
    track_count: int
    total_duration: int = strawberry.field(description="Sum of track durations, in seconds.")

    @classmethod
    def from_stats(cls, did: str, stats: ArtistStats | None) -> Artist:
        if stats is None:
            return cls(did=did, handle=None, track_count=0, total_duration=0)
        return cls(
            did=did, handle=stats.handle, track_count=stats.tracks, total_duration=stats.seconds
        )

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
        page = await info.context.services.tracks.page(
            FilterValue(artist_did=self.did),
            order_value(order_by),
            PageRequest(first=first, after=after, last=last, before=before),
        )
        return TrackConnection.from_page(page)


@strawberry.enum
class TrackEventKind(Enum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


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
    def from_value(cls, viewer: ViewerValue) -> Viewer:
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
