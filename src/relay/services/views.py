"""Read models: what services hand to the API layer — frozen, and exactly what a client may see.

The GraphQL layer maps these and never touches the ORM; visibility and caching rules apply to
them in one place (the services that build them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from pydantic import ValidationError

from relay import jsonc
from relay.atproto.records import TrackRecord
from relay.db.models import TrackColumns
from relay.db.track_mapper import record_of
from relay.db.tracks import Answer, ArtistStats, TrackPage
from relay.domain import FileType, PublishState, TrackEventKind


@dataclass(frozen=True)
class TrackView:
    """One indexed track: its record's fields (as relay writes it, or as indexed) and relay's
    state. The record itself is built when asked for (most reads show only some fields)."""

    uri: str
    rkey: str
    cid: str | None
    title: str
    artist: str
    album: str | None
    audio_url: str
    image_url: str | None
    file_type: FileType
    duration: int | None
    record_created_at: str  # the record's createdAt, as written
    created_at: datetime
    indexed_at: datetime
    artist_did: str
    artist_handle: str | None
    publish_state: PublishState
    publish_error: str | None
    audio_host: str

    @cached_property
    def record(self) -> TrackRecord:
        return record_of(self)

    @classmethod
    def of(cls, row: TrackColumns) -> TrackView:
        # What the generated __init__ would set, in one dict update: a page builds a hundred of
        # these, and a frozen dataclass's __init__ sets each field through object.__setattr__.
        view = object.__new__(cls)
        view.__dict__.update(
            uri=row.uri,
            rkey=row.rkey,
            cid=row.cid,
            title=row.title,
            artist=row.artist,
            album=row.album,
            audio_url=row.audio_url,
            image_url=row.image_url,
            file_type=_FILE_TYPES[row.file_type],
            duration=row.duration,
            record_created_at=row.record_created_at,
            created_at=row.created_at,
            indexed_at=row.indexed_at,
            artist_did=row.artist_did,
            artist_handle=row.artist_handle,
            publish_state=_PUBLISH_STATES[row.publish_state],
            publish_error=row.publish_error,
            audio_host=row.audio_host,
        )
        return view


_FILE_TYPES = {kind.value: kind for kind in FileType}
_PUBLISH_STATES = {state.value: state for state in PublishState}


@dataclass(frozen=True)
class ArtistView:
    """An account with tracks in the index."""

    did: str
    handle: str | None
    track_count: int
    total_duration: int

    @classmethod
    def of(cls, stats: ArtistStats) -> ArtistView:
        return cls(
            did=stats.did,
            handle=stats.handle,
            track_count=stats.tracks,
            total_duration=stats.seconds,
        )


@dataclass(frozen=True)
class TrackPageView:
    """One page of a track connection, with a cursor per track."""

    tracks: Sequence[TrackView]
    cursors: Sequence[str]
    has_next_page: Answer  # asked when a client selects it
    has_previous_page: Answer

    @classmethod
    def of(cls, page: TrackPage) -> TrackPageView:
        return cls(
            tracks=[TrackView.of(row) for row in page.rows],
            cursors=page.cursors,  # encoded as they are read
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
        )


@dataclass(frozen=True)
class TrackEvent:
    """A change to the index, for subscribers (a deleted track as it was)."""

    kind: TrackEventKind
    track: TrackView

    def to_json(self) -> str:
        """The event as it travels between processes."""
        view = self.track
        return jsonc.dumps(
            {
                "kind": self.kind.value,
                "uri": view.uri,
                "rkey": view.rkey,
                "cid": view.cid,
                "record": view.record.to_data(),
                "createdAt": view.created_at.isoformat(),
                "indexedAt": view.indexed_at.isoformat(),
                "artistDid": view.artist_did,
                "artistHandle": view.artist_handle,
                "publishState": view.publish_state.value,
                "publishError": view.publish_error,
                "audioHost": view.audio_host,
            }
        )

    @classmethod
    def from_json(cls, payload: str) -> TrackEvent:
        """Read ``to_json``'s output back; ``ValueError`` when it is not one."""
        try:
            data = jsonc.loads(payload)
            record = TrackRecord.model_validate(data["record"])
            view = TrackView(
                uri=data["uri"],
                rkey=data["rkey"],
                cid=data["cid"],
                title=record.title,
                artist=record.artist,
                album=record.album,
                audio_url=record.audio_url,
                image_url=record.image_url,
                file_type=record.file_type,
                duration=record.duration,
                record_created_at=record.created_at,
                created_at=datetime.fromisoformat(data["createdAt"]),
                indexed_at=datetime.fromisoformat(data["indexedAt"]),
                artist_did=data["artistDid"],
                artist_handle=data["artistHandle"],
                publish_state=PublishState(data["publishState"]),
                publish_error=data["publishError"],
                audio_host=data["audioHost"],
            )
            return cls(TrackEventKind(data["kind"]), view)
        except (KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"not a track event: {exc}") from exc


@dataclass(frozen=True)
class RecordEvent:
    """A like or a list indexed, changed or removed, for subscribers: which record, whose, and
    (a like) the track it is for."""

    kind: TrackEventKind
    collection: str  # app.relay.like | app.relay.list
    uri: str
    did: str
    subject_uri: str | None = None

    def to_json(self) -> str:
        return jsonc.dumps(
            {
                "type": "record", "kind": self.kind.value, "collection": self.collection,
                "uri": self.uri, "did": self.did, "subject": self.subject_uri,
            }
        )  # fmt: skip

    @classmethod
    def from_data(cls, data: dict[str, object]) -> RecordEvent:
        kind, collection, uri, did = (
            data.get("kind"), data.get("collection"), data.get("uri"), data.get("did")
        )  # fmt: skip
        subject = data.get("subject")
        if not all(isinstance(v, str) for v in (kind, collection, uri, did)):
            raise ValueError("not a record event")
        if subject is not None and not isinstance(subject, str):
            raise ValueError("not a record event")
        return cls(TrackEventKind(str(kind)), str(collection), str(uri), str(did), subject)


AnyEvent = TrackEvent | RecordEvent


def event_from_json(payload: str) -> AnyEvent:
    """An event as ``to_json`` wrote it; ``ValueError`` when it is not one."""
    data = jsonc.loads(payload)
    if isinstance(data, dict) and data.get("type") == "record":
        return RecordEvent.from_data(data)
    return TrackEvent.from_json(payload)
