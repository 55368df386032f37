"""Changing a track after upload.

- update: validate (a new cover is normalized and stored first) → ``putRecord`` with
  ``swapRecord`` = last seen CID (a record changed elsewhere is a CONFLICT, never overwritten) →
  row; a replaced cover is collected once unused. A PDS that could not answer (it may have taken
  the record) leaves the edit FAILED, for the worker to write again.
- delete: PDS record (absent is fine) → object (if no other track uses it) → row. A PDS failure
  stops the delete before anything changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import anyio

from relay.atproto.grants import PdsAuth
from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.pds import PdsClient
from relay.atproto.records import TRACK_NSID
from relay.db.models import TrackRow
from relay.db.track_mapper import record_columns, record_of
from relay.db.tracks import Lease, TrackIndex
from relay.domain import PublishState, TrackEventKind
from relay.errors import BadUserInputError, ConflictError, UpstreamError
from relay.media.artwork import normalize_artwork
from relay.metrics import RelayMetrics
from relay.services.audio_objects import AudioObjects
from relay.services.events import EventBus
from relay.services.ownership import TrackLeases, owned_track, still_there, written
from relay.services.publishing import Publishing
from relay.services.sessions import SessionService, Viewer
from relay.services.track_uploads import StagedUpload
from relay.services.views import TrackEvent, TrackView
from relay.storage.base import AudioStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackChanges:
    """Metadata edits; None leaves a field as it is, an empty album clears it."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None

    def values(self) -> dict[str, str | None]:
        """The fields to change, trimmed; a blank title or artist is refused."""
        values: dict[str, str | None] = {}
        for name, value in (("title", self.title), ("artist", self.artist)):
            if value is not None:
                if not value.strip():
                    raise BadUserInputError(f"{name} must not be empty")
                values[name] = value.strip()
        if self.album is not None:
            values["album"] = self.album.strip() or None
        return values


class TrackEdits:
    def __init__(
        self,
        *,
        index: TrackIndex,
        objects: AudioObjects,
        sessions: SessionService,
        pds: PdsClient,
        lexicons: LexiconCatalog,
        metrics: RelayMetrics,
        leases: TrackLeases,
        events: EventBus,
        store: AudioStore,
        publishing: Publishing,
        max_image_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self._store = store
        self._publishing = publishing
        self._max_image = max_image_bytes
        self._leases = leases
        self._index = index
        self._objects = objects
        self._sessions = sessions
        self._pds = pds
        self._lexicons = lexicons
        self._metrics = metrics
        self._events = events

    async def update(
        self,
        viewer: Viewer,
        uri: str,
        changes: TrackChanges,
        *,
        image: StagedUpload | None = None,
        remove_image: bool = False,
    ) -> TrackView:
        """Edit a track (and its artwork: a new ``image``, or ``remove_image``). A published one
        is changed in the index first, as PUBLISHING under its lease, then on the PDS
        (swapRecord = the CID relay last saw): a crash in between leaves a publish the worker
        finishes, never a row that disagrees with a PUBLISHED record. A cover that is replaced
        or removed is collected once no track uses it; one stored for an edit that failed, too."""
        if image is not None and remove_image:
            raise BadUserInputError("send a new image or removeImage, not both")
        row = await owned_track(self._index, viewer, uri)
        values: dict[str, str | None] = changes.values()
        cover = None
        if image is not None:
            cover = await normalize_artwork(image.path, image.size, max_bytes=self._max_image)
            values["image_url"] = self._store.public_url(cover.key)
        elif remove_image and row.image_url is not None:
            values["image_url"] = None
        if not values:
            return TrackView.of(row)
        record = record_of(row).model_copy(update=values)
        checked = record.to_json(self._lexicons)
        columns: dict[str, Any] = record_columns(record)
        if "image_url" in values:  # the artwork changes: so does the stored copy relay counts
            columns["image_file_id"] = cover.key if cover is not None else None
        try:
            if cover is not None and image is not None:
                await self._objects.store_artwork(cover, image.path.parent)
            updated = await self._write(viewer, row, await self._claim(row), columns, checked)
        except BaseException:
            if cover is not None:
                with anyio.CancelScope(shield=True):
                    await self._objects.collect(cover.key)  # unless another track shows it
            raise
        if row.image_file_id not in (None, columns.get("image_file_id", row.image_file_id)):
            await self._objects.collect(row.image_file_id)  # replaced or removed: if now unused
        view = TrackView.of(still_there(updated, row))
        await self._events.publish(TrackEvent(TrackEventKind.UPDATED, view))
        return view

    async def _write(
        self,
        viewer: Viewer,
        row: TrackRow,
        lease: Lease,
        columns: dict[str, Any],
        checked: dict[str, object],
    ) -> TrackRow | None:
        if row.publish_state != PublishState.PUBLISHED:
            return await self._index.release(row.id, lease, **columns)
        before: dict[str, Any] = {
            **record_columns(record_of(row)),
            "image_file_id": row.image_file_id,
            "replaced_image_file_id": None,
        }
        pending = {**columns, "publish_state": PublishState.PUBLISHING}
        if columns.get("image_file_id", row.image_file_id) != row.image_file_id:
            # The record on the PDS shows the old cover until it takes the new one (or refuses
            # it): the old stays counted meanwhile, on the row, so the collector cannot take it
            # and a crash leaves it to whoever finishes the publish.
            pending["replaced_image_file_id"] = row.image_file_id
        await self._index.release(row.id, lease, keep=True, next_publish_at=lease.until, **pending)
        try:
            auth = await self._sessions.auth_for_viewer(viewer)
            with self._metrics.pds_write("update"):
                ref = await self._pds.put_record(
                    auth,
                    collection=TRACK_NSID,
                    rkey=row.rkey,
                    record=checked,
                    swap_record=row.cid,
                )
        except UpstreamError as exc:
            # The PDS may have taken the record (its answer lost, a timeout, a server error after
            # the commit): the index keeps the edit, FAILED, and the worker writes it again —
            # the same record, so nothing changes if it had landed. Both covers stay counted.
            return await self._publishing.failed(row, exc, lease)
        except BaseException:
            # The PDS refused it and kept the old record: so does the index.
            await self._index.release(
                row.id, lease, publish_state=PublishState.PUBLISHED, next_publish_at=None,
                **before,
            )  # fmt: skip
            raise
        return await self._index.release(
            row.id, lease, publish_state=PublishState.PUBLISHED, next_publish_at=None,
            replaced_image_file_id=None, **written(ref),
        )  # fmt: skip

    async def delete(self, viewer: Viewer, uri: str) -> TrackView:
        """Delete a track: marked as being deleted (gone for readers), then its record on the
        PDS, then the row and its audio reference. A PDS failure undoes the mark; a crash leaves
        the mark for the worker to finish the delete."""
        row = await owned_track(self._index, viewer, uri)
        view = TrackView.of(row)
        lease = await self._claim(row)
        await self._index.request_delete(row.id, lease)
        rev = None
        try:
            if row.publish_state != PublishState.DRAFT:
                auth = await self._sessions.auth_for_viewer(viewer)
                rev = await self._delete_record(row, auth)
        except BaseException:
            await self._index.release(row.id, lease, delete_requested_at=None)
            raise
        await self._finish(row, lease, view, rev)
        return view

    async def finish_delete(self, row: TrackRow) -> None:
        """Finish a delete its process did not (the worker): with the owner's newest session."""
        lease = self._leases.new()
        if not await self._index.claim(row.id, lease):
            return
        rev = None
        if row.publish_state != PublishState.DRAFT:
            auth = await self._sessions.auth_for(row.artist_did)
            if auth is None:
                log.warning("cannot finish deleting %s: its owner has no session", row.uri)
                return  # the lease lapses; tried again later
            rev = await self._delete_record(row, auth)
        await self._finish(row, lease, TrackView.of(row), rev)

    async def _delete_record(self, row: TrackRow, auth: PdsAuth) -> str | None:
        with self._metrics.pds_write("delete"):
            return await self._pds.delete_record(auth, collection=TRACK_NSID, rkey=row.rkey)

    async def _finish(self, row: TrackRow, lease: Lease, view: TrackView, rev: str | None) -> None:
        """The row goes (with a tombstone at ``rev``, the delete's revision, when the record's
        delete has one: the firehose's late echo of an older commit does not bring it back)."""
        if not await self._index.delete(row.id, lease, rev=rev):
            raise ConflictError(f"track {row.uri} was taken over by another change; try again")
        await self._objects.collect_of([row])
        await self._events.publish(TrackEvent(TrackEventKind.DELETED, view))

    async def _claim(self, row: TrackRow) -> Lease:
        lease = self._leases.new()
        if not await self._index.claim(row.id, lease):
            raise ConflictError(
                "the track is being published or changed right now; try again in a moment"
            )
        return lease
