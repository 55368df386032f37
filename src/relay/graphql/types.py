"""GraphQL object types and enums."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry import relay

from relay.db.models import PublishState as PublishStateValue
from relay.db.models import TrackRow
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
