"""Typed atproto records relay reads and writes, one model per lexicon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from relay.atproto.lexicon import LexiconCatalog, blob_cid
from relay.domain import FileType

TRACK_NSID = "app.relay.track"
LIKE_NSID = "app.relay.like"
LIST_NSID = "app.relay.list"
PROFILE_NSID = "app.bsky.actor.profile"


def format_datetime(moment: datetime) -> str:
    """atproto datetime: UTC, millisecond precision, ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TrackRecord(BaseModel):
    """An ``app.relay.track`` record. Build it, then ``to_json(lexicons)`` validates on the way out;
    ``from_json`` validates on the way in."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type_: Literal["app.relay.track"] = Field(default="app.relay.track", alias="$type")
    title: str
    artist: str
    album: str | None = None
    audio_url: str = Field(alias="audioUrl")
    image_url: str | None = Field(default=None, alias="imageUrl")
    file_type: FileType = Field(alias="fileType")
    duration: int | None = None
    created_at: str = Field(alias="createdAt")

    def to_data(self) -> dict[str, Any]:
        """The record as JSON data, without checking it (for a record validated before)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self, lexicons: LexiconCatalog) -> dict[str, Any]:
        """The record as JSON data, validated against its lexicon."""
        return lexicons.validate(TRACK_NSID, self.to_data())

    @cached_property  # asked for twice as a record is indexed
    def created_at_time(self) -> datetime:
        """``createdAt`` as a datetime (the lexicon guarantees its format)."""
        return datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))

    @classmethod
    def from_json(cls, data: object, lexicons: LexiconCatalog) -> TrackRecord:
        checked = lexicons.validate(TRACK_NSID, data)
        return cls.model_validate(checked)


class StrongRef(BaseModel):
    """A ``com.atproto.repo.strongRef``: a record's URI and the CID of one version of it."""

    model_config = ConfigDict(frozen=True)

    uri: str
    cid: str


class LikeRecord(BaseModel):
    """An ``app.relay.like`` record: a strongRef to the track liked, and when."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type_: Literal["app.relay.like"] = Field(default="app.relay.like", alias="$type")
    subject: StrongRef
    created_at: str = Field(alias="createdAt")

    def to_json(self, lexicons: LexiconCatalog) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return lexicons.validate(LIKE_NSID, data)

    @property
    def created_at_time(self) -> datetime:
        return datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))

    @classmethod
    def from_json(cls, data: object, lexicons: LexiconCatalog) -> LikeRecord:
        return cls.model_validate(lexicons.validate(LIKE_NSID, data))


class ListRecord(BaseModel):
    """An ``app.relay.list`` record: an album or a playlist — strongRefs to tracks, in order."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    type_: Literal["app.relay.list"] = Field(default="app.relay.list", alias="$type")
    name: str
    list_type: str = Field(alias="listType")
    items: tuple[StrongRef, ...]
    image_url: str | None = Field(default=None, alias="imageUrl")
    description: str | None = None
    created_at: str = Field(alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")

    def to_json(self, lexicons: LexiconCatalog) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return lexicons.validate(LIST_NSID, data)

    @property
    def created_at_time(self) -> datetime:
        return datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))

    @classmethod
    def from_json(cls, data: object, lexicons: LexiconCatalog) -> ListRecord:
        return cls.model_validate(lexicons.validate(LIST_NSID, data))


@dataclass(frozen=True)
class Blob:
    """A blob a record references: its CID (text), type and size."""

    cid: str
    mime_type: str
    size: int


@dataclass(frozen=True)
class ProfileRecord:
    """An ``app.bsky.actor.profile`` record (key ``self``), as far as relay reads it."""

    display_name: str | None
    description: str | None
    avatar: Blob | None

    @property
    def created_at_time(self) -> None:
        """A profile's ``createdAt`` is optional and never checked (it orders nothing)."""
        return None

    @classmethod
    def from_json(cls, data: object, lexicons: LexiconCatalog) -> ProfileRecord:
        checked = lexicons.validate(PROFILE_NSID, data)
        avatar = checked.get("avatar")
        blob = None
        if isinstance(avatar, dict):
            cid = blob_cid(avatar.get("ref"))
            assert cid is not None  # the lexicon checked it
            blob = Blob(cid=cid, mime_type=str(avatar["mimeType"]), size=int(avatar["size"]))
        name, about = checked.get("displayName"), checked.get("description")
        return cls(
            display_name=name if isinstance(name, str) and name.strip() else None,
            description=about if isinstance(about, str) and about.strip() else None,
            avatar=blob,
        )


@dataclass(frozen=True)
class AtUri:
    """``at://did/collection/rkey``."""

    did: str
    collection: str
    rkey: str

    def __str__(self) -> str:
        return f"at://{self.did}/{self.collection}/{self.rkey}"

    @classmethod
    def parse(cls, value: str) -> AtUri:
        if not value.startswith("at://"):
            raise ValueError(f"not an at:// URI: {value!r}")
        parts = value[len("at://") :].split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected at://did/collection/rkey, got {value!r}")
        return cls(did=parts[0], collection=parts[1], rkey=parts[2])
