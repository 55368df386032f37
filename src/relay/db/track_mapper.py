"""The one mapping between an ``app.relay.track`` record and its row in ``tracks``."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from relay.atproto.records import TRACK_NSID, AtUri, TrackRecord
from relay.db.models import RecordColumns, derived_keys
from relay.domain import FileType, PublishState


@dataclass(slots=True)
class NewTrack:
    """A ``tracks`` row about to be inserted, as plain values: building thousands of ORM objects
    costs more than inserting them (a backfill inserts its pages with one statement each)."""

    uri: str
    artist_did: str
    rkey: str
    cid: str | None
    rev: str | None
    file_id: str | None
    title: str
    artist: str
    album: str | None
    audio_url: str
    file_type: str
    duration: int | None
    record_created_at: str
    created_at: datetime
    indexed_at: datetime
    artist_handle: str | None
    publish_state: str
    image_url: str | None = None
    image_file_id: str | None = None
    publish_error: str | None = None
    publish_attempts: int = 0
    next_publish_at: datetime | None = None
    hidden: bool = False
    audio_host: str = ""
    title_key: str = ""
    artist_key: str = ""
    album_key: str | None = None
    search_text: str = ""
    lease_token: str | None = None
    lease_until: datetime | None = None
    delete_requested_at: datetime | None = None

    def derive_keys(self) -> None:
        self.audio_host, self.title_key, self.artist_key, self.album_key, self.search_text = (
            derived_keys(self.title, self.artist, self.album, self.audio_url)
        )

    def columns(self) -> dict[str, Any]:
        return dict(zip(NEW_TRACK_COLUMNS, self.values(), strict=True))

    def values(self) -> tuple[Any, ...]:
        """The row's values, in the order of ``NEW_TRACK_COLUMNS``."""
        values: tuple[Any, ...] = _new_track_values(self)
        return values


NEW_TRACK_COLUMNS = tuple(field.name for field in fields(NewTrack))
"""The columns of a new row, in the order of ``NewTrack.values``."""
_new_track_values = attrgetter(*NEW_TRACK_COLUMNS)  # one call for every field (a backfill's rows)


def record_of(row: RecordColumns) -> TrackRecord:
    """The record a row (or a read model) stands for (what relay writes, or what was
    indexed)."""
    return TrackRecord(
        title=row.title,
        artist=row.artist,
        album=row.album,
        audio_url=row.audio_url,
        image_url=row.image_url,
        file_type=FileType(row.file_type),
        duration=row.duration,
        created_at=row.record_created_at,
    )


def record_columns(record: TrackRecord) -> dict[str, Any]:
    """The columns a record sets (derived keys are refreshed by ``TrackRow.derive_keys``)."""
    return {
        "title": record.title,
        "artist": record.artist,
        "album": record.album,
        "audio_url": record.audio_url,
        "image_url": record.image_url,
        "file_type": record.file_type.value,
        "duration": record.duration,
        "record_created_at": record.created_at,
    }


def new_track(
    *,
    did: str,
    rkey: str,
    record: TrackRecord,
    created_at: datetime,
    indexed_at: datetime,
    handle: str | None,
    publish_state: PublishState,
    cid: str | None = None,
    rev: str | None = None,
    file_id: str | None = None,
    image_file_id: str | None = None,
) -> NewTrack:
    """The values of a new row for ``record``, derived keys filled in (``TrackRow(**columns())``
    for the ORM row)."""
    row = NewTrack(
        uri=str(AtUri(did, TRACK_NSID, rkey)),
        artist_did=did,
        rkey=rkey,
        cid=cid,
        rev=rev,
        file_id=file_id,
        image_file_id=image_file_id,
        created_at=created_at,
        indexed_at=indexed_at,
        artist_handle=handle,
        publish_state=publish_state.value,
        **record_columns(record),
    )
    row.derive_keys()
    return row
