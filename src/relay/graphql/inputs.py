"""GraphQL input types."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.file_uploads import Upload

from relay.graphql.types import FileType


@strawberry.input
class TrackFilter:
    artist_did: str | None = None
    artist: str | None = strawberry.field(default=None, description="Artist name, any case.")
    album: str | None = strawberry.field(default=None, description="Album name, any case.")
    file_type: FileType | None = None
    search: str | None = strawberry.field(
        default=None, description="Text found in the title, artist or album."
    )


@strawberry.enum
class TrackOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    TITLE = "TITLE"
    DURATION = "DURATION"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class TrackOrder:
    field: TrackOrderField = TrackOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input
class UploadTrackInput:
    file: Upload
    title: str
    artist: str
    album: str | None = None
    publish: bool = strawberry.field(
        default=True, description="Write the record to your PDS now (false keeps a draft)."
    )


@strawberry.input
class UpdateTrackInput:
    title: str | None = None
    artist: str | None = None
    album: str | None = strawberry.field(default=None, description="An empty string clears it.")
