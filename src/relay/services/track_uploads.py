"""Uploading a track: probe (and make the artwork a standard cover) → build and validate the
record → store the objects → insert the row → (publish). A failure after an object is stored and
before the row exists removes it (unless another track uses the same bytes); a failed publish
keeps the track as FAILED for the worker to retry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio

from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.records import TrackRecord, format_datetime
from relay.atproto.tid import TidClock
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.track_mapper import new_track
from relay.db.tracks import TrackIndex
from relay.domain import PublishState, TrackEventKind
from relay.errors import (
    AudioRemovedError,
    BadUserInputError,
    RelayError,
    StorageUnavailableError,
)
from relay.media.artwork import Artwork, normalize_artwork
from relay.media.probe import AudioInfo, probe
from relay.metrics import RelayMetrics
from relay.services.audio_objects import AudioObjects
from relay.services.events import EventBus
from relay.services.publishing import Publishing
from relay.services.sessions import SessionService, Viewer
from relay.services.views import TrackEvent, TrackView
from relay.storage.base import AudioStore

STORE_ATTEMPTS = 3  # a removal racing the upload of the same bytes is waited out this often
FILENAME_TITLE_CHARS = 200  # a title taken from a file name is cut here (the lexicon allows 280)


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded file already on local disk (the HTTP layer streamed it there and hashed it)."""

    path: Path
    filename: str
    content_type: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class TrackFields:
    """What the uploader typed; None takes the file's tags (then the file name / the handle)."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None


def _clean(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _title_from_filename(filename: str) -> str:
    stem = Path(filename).stem.replace("_", " ").strip()
    return stem[:FILENAME_TITLE_CHARS] or "Untitled"


class TrackUploads:
    def __init__(
        self,
        *,
        index: TrackIndex,
        store: AudioStore,
        objects: AudioObjects,
        sessions: SessionService,
        publishing: Publishing,
        lexicons: LexiconCatalog,
        clock: Clock,
        metrics: RelayMetrics,
        events: EventBus,
        tids: TidClock | None = None,
        max_image_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self._max_image = max_image_bytes
        self._index = index
        self._store = store
        self._objects = objects
        self._sessions = sessions
        self._publishing = publishing
        self._lexicons = lexicons
        self._clock = clock
        self._metrics = metrics
        self._events = events
        self._tids = tids or TidClock()

    async def upload(
        self,
        viewer: Viewer,
        upload: StagedUpload,
        fields: TrackFields,
        *,
        publish: bool,
        image: StagedUpload | None = None,
    ) -> TrackView:
        try:
            info = await probe(upload.path)
            cover = None
            if image is not None:
                cover = await normalize_artwork(image.path, image.size, max_bytes=self._max_image)
            now = self._clock.now()
            record = self._record(viewer, upload, fields, info, now)
            if cover is not None:
                record = record.model_copy(update={"image_url": self._store.public_url(cover.key)})
            checked = record.to_json(self._lexicons)  # a record that would fail stops here
            row = await self._store_and_index(viewer, upload, record, info, now, cover)
        except RelayError:
            self._metrics.uploads.labels(outcome="rejected").inc()
            raise
        self._metrics.uploads.labels(outcome="stored").inc()
        self._metrics.upload_bytes.inc(upload.size)
        await self._events.publish(TrackEvent(TrackEventKind.CREATED, TrackView.of(row)))
        if publish:
            auth = await self._sessions.auth_for_viewer(viewer)
            row = await self._publishing.publish_checked(row, auth, checked)
        return TrackView.of(row)

    def _record(
        self,
        viewer: Viewer,
        upload: StagedUpload,
        fields: TrackFields,
        info: AudioInfo,
        now: datetime,
    ) -> TrackRecord:
        title, artist, album = _clean(fields.title), _clean(fields.artist), _clean(fields.album)
        if title == "":
            raise BadUserInputError("title is required (omit it to use the file's tags)")
        if artist == "":
            raise BadUserInputError("artist is required (omit it to use the file's tags)")
        return TrackRecord(
            title=title or info.tags.get("title") or _title_from_filename(upload.filename),
            artist=artist or info.tags.get("artist") or viewer.handle,
            album=info.tags.get("album") if album is None else (album or None),
            audio_url=self._store.public_url(self._file_id(upload, info)),
            file_type=info.file_type,
            duration=info.duration_seconds,
            created_at=format_datetime(now),
        )

    @staticmethod
    def _file_id(upload: StagedUpload, info: AudioInfo) -> str:
        return f"{upload.sha256}.{info.file_type}"

    async def _store_and_index(
        self,
        viewer: Viewer,
        upload: StagedUpload,
        record: TrackRecord,
        info: AudioInfo,
        now: datetime,
        cover: Artwork | None,
    ) -> TrackRow:
        file_id = self._file_id(upload, info)
        image_id = cover.key if cover is not None else None
        rkey = self._tids.next()
        for _ in range(STORE_ATTEMPTS):
            # A crash from here on leaves collectable objects, never orphans.
            await self._objects.intend(file_id)
            try:
                await self._store.put(file_id, upload.path, info.content_type)
                if cover is not None:
                    await self._objects.store_artwork(cover, upload.path.parent)
                track = new_track(
                    did=viewer.did,
                    rkey=rkey,
                    record=record,
                    created_at=now,
                    indexed_at=now,
                    handle=viewer.handle,
                    publish_state=PublishState.DRAFT,
                    file_id=file_id,
                    image_file_id=image_id,
                )
                return await self._index.insert(TrackRow(**track.columns()))
            except AudioRemovedError:
                # The last other track using these bytes went and the collector took them just
                # now: store them again (the staged file is still here).
                continue
            except BaseException:
                with anyio.CancelScope(shield=True):
                    for stored in (file_id, image_id):
                        if stored is not None:
                            await self._objects.collect(stored)  # if no other track uses it
                raise
        raise StorageUnavailableError("the audio could not be stored; upload again")
