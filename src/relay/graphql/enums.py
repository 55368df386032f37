"""The shared enums of ``relay.domain``, declared once and exposed to GraphQL here: Strawberry
marks the same classes, so every layer passes the same values."""

from __future__ import annotations

import strawberry

from relay.domain import (
    FileType,
    OrderDirection,
    PublishState,
    RefStatus,
    TrackEventKind,
    TrackOrderField,
)

strawberry.enum(PublishState, description="Where a track stands with the musician's PDS.")
strawberry.enum(FileType, description="Audio container formats relay accepts.")
strawberry.enum(TrackOrderField)
strawberry.enum(OrderDirection)
strawberry.enum(TrackEventKind)
strawberry.enum(RefStatus, description="What a reference to a track finds in the index.")

__all__ = [
    "FileType",
    "OrderDirection",
    "PublishState",
    "RefStatus",
    "TrackEventKind",
    "TrackOrderField",
]
