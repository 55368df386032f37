"""The one mapping between an ``app.relay.track`` record and its row in ``tracks``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from relay.atproto.records import TRACK_NSID, AtUri, TrackRecord
from relay.db.models import TrackRow
from relay.domain import FileType, PublishState


def record_of(row: TrackRow) -> TrackRecord:
    """The record a row stands for (what relay writes, or what was indexed)."""
    return TrackRecord(
        title=row.title,
        artist=row.artist,
        album=row.album,
        audio_url=row.audio_url,
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
        "file_type": record.file_type.value,
        "duration": record.duration,
        "record_created_at": record.created_at,
    }


def new_track_row(
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
) -> TrackRow:
    """A new row for ``record`` at ``at://did/app.relay.track/rkey``, derived keys filled in."""
    row = TrackRow(
        uri=str(AtUri(did, TRACK_NSID, rkey)),
        artist_did=did,
        rkey=rkey,
        cid=cid,
        rev=rev,
        file_id=file_id,
        created_at=created_at,
        indexed_at=indexed_at,
        artist_handle=handle,
        publish_state=publish_state.value,
        publish_error=None,
        publish_attempts=0,
        next_publish_at=None,
        hidden=False,
        **record_columns(record),
    )
    row.derive_keys()
    return row
