"""The words every layer shares, declared once: audio formats, publish states, orderings and
event kinds. The GraphQL schema exposes these same enums; the database stores their values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class FileType(StrEnum):
    """Audio container formats relay accepts (the lexicon's ``fileType`` values)."""

    MP3 = "mp3"
    WAV = "wav"
    OGG = "ogg"
    FLAC = "flac"


class PublishState(StrEnum):
    """Where a track stands with the musician's PDS."""

    DRAFT = "DRAFT"
    PUBLISHING = "PUBLISHING"
    PUBLISHED = "PUBLISHED"
    FAILED = "FAILED"


class TrackOrderField(StrEnum):
    CREATED_AT = "CREATED_AT"
    TITLE = "TITLE"
    DURATION = "DURATION"
    RELEVANCE = "RELEVANCE"
    POPULAR = "POPULAR"  # tracks liked in the last week, most listeners first (``since``)


class OrderDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class TrackEventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class RefStatus(StrEnum):
    """What a strongRef (a like's subject, a list's item) points at, as the index holds it."""

    CURRENT = "current"  # the indexed record is the version referenced (same CID)
    CHANGED = "changed"  # the record was edited since (another CID)
    MISSING = "missing"  # not indexed: deleted, or never seen


@dataclass(frozen=True)
class TrackOrder:
    field: TrackOrderField = TrackOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC
    since: datetime | None = None  # POPULAR: likes created since then count

    @property
    def descending(self) -> bool:
        return self.direction is OrderDirection.DESC


@dataclass(frozen=True)
class PageRequest:
    """Relay-style pagination arguments, as a client sent them."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
