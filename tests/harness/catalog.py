"""Tracks written straight into relay's index (through its own mapper), for read-path tests that
need many tracks with chosen values and no PDS round trips."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from relay.atproto.records import TrackRecord
from relay.db.engine import create_engine, session_factory
from relay.db.models import TrackRow
from relay.db.track_mapper import new_track
from relay.db.tracks import TrackIndex
from relay.domain import FileType, PublishState
from tests.harness.server import RunningRelay

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def catalog_row(
    did: str,
    rkey: str,
    *,
    title: str,
    artist: str,
    created_at: datetime,
    album: str | None = None,
    file_type: FileType = FileType.MP3,
    duration: int | None = None,
    audio_url: str = "https://cdn.example/a.mp3",
    handle: str | None = None,
    cid: str | None = None,
) -> TrackRow:
    """A published track of ``did`` as the network would have it indexed."""
    record = TrackRecord(
        title=title,
        artist=artist,
        album=album,
        audio_url=audio_url,
        file_type=file_type,
        duration=duration,
        created_at="2026-01-01T00:00:00.000Z",
    )
    track = new_track(
        did=did,
        rkey=rkey,
        record=record,
        created_at=created_at,
        indexed_at=EPOCH,
        handle=handle,
        publish_state=PublishState.PUBLISHED,
        cid=cid,
    )
    return TrackRow(**track.columns())


async def insert_rows(relay: RunningRelay, rows: Iterable[TrackRow]) -> None:
    engine = create_engine(relay.settings.resolved_database_url)
    try:
        index = TrackIndex(session_factory(engine))
        for row in rows:
            await index.insert(row)
    finally:
        await engine.dispose()
