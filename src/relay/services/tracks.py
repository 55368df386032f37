"""Track use cases: upload, publish, update, delete — and what each leaves behind when it fails.

Order of effects and their undo:
- upload: probe → validate the record → store the object → insert the row → (publish). A failure
  after the object is stored and before the row exists removes the object (unless another track
  uses the same bytes). A failed publish keeps the track as FAILED; the worker retries it.
- update: validate → ``putRecord`` with ``swapRecord`` = last seen CID → row.
- delete: PDS record (absent is fine) → object (if no other track uses it) → row. A PDS failure
  stops the delete before anything changed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import anyio

from relay.atproto.grants import PdsAuth
from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.pds import PdsClient
from relay.atproto.records import TRACK_NSID, AtUri, TrackRecord, format_datetime
from relay.atproto.tid import TidClock
from relay.clock import Clock
from relay.db.models import PublishState, TrackRow
from relay.db.tracks import (
    ArtistStats,
    PageRequest,
    TrackFilter,
    TrackIndex,
    TrackOrder,
    TrackPage,
)
from relay.errors import (
    BadUserInputError,
    ForbiddenError,
    NotFoundError,
    RelayError,
    UnauthenticatedError,
    UpstreamError,
)
from relay.media.probe import probe
from relay.metrics import RelayMetrics
from relay.services.events import TrackEvent, TrackEventBus
from relay.services.sessions import SessionService, Viewer
from relay.storage.base import AudioStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedUpload:
    """An uploaded file already on local disk (the HTTP layer streamed it there and hashed it)."""

    path: Path
    filename: str
    content_type: str | None
    size: int
    sha256: str


@dataclass(frozen=True)
class TrackChanges:
    """Metadata edits; None leaves a field as it is, an empty album clears it."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        return timedelta(
            seconds=min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        )


def _clean(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _still_there(updated: TrackRow | None, row: TrackRow) -> TrackRow:
    """The row an index update returned; None means the track was deleted meanwhile."""
    if updated is None:
        raise NotFoundError(f"track {row.uri} was deleted meanwhile")
    return updated


def _title_from_filename(filename: str) -> str:
    stem = Path(filename).stem.replace("_", " ").strip()
    return stem[:200] or "Untitled"


def _record_of(row: TrackRow) -> TrackRecord:
    return TrackRecord(
        title=row.title,
        artist=row.artist,
        album=row.album,
        audio_url=row.audio_url,
        file_type=row.file_type,
        duration=row.duration,
        created_at=row.record_created_at,
    )


class TrackService:
    def __init__(
        self,
        *,
        index: TrackIndex,
        store: AudioStore,
        sessions: SessionService,
        pds: PdsClient,
        lexicons: LexiconCatalog,
        clock: Clock,
        metrics: RelayMetrics,
        retry: RetryPolicy,
        events: TrackEventBus,
        tids: TidClock | None = None,
    ) -> None:
        self._index = index
        self._store = store
        self._sessions = sessions
        self._pds = pds
        self._lexicons = lexicons
        self._clock = clock
        self._metrics = metrics
        self._retry = retry
        self._tids = tids or TidClock()
        self._events = events

    # -- upload -------------------------------------------------------------------------------

    async def upload(
        self,
        viewer: Viewer,
        upload: StagedUpload,
        *,
        title: str | None,
        artist: str | None,
        album: str | None,
        publish: bool,
    ) -> TrackRow:
        try:
            row = await self._upload(viewer, upload, title, artist, album)
        except RelayError:
            self._metrics.uploads.labels(outcome="rejected").inc()
            raise
        self._metrics.uploads.labels(outcome="stored").inc()
        self._metrics.upload_bytes.inc(upload.size)
        self._events.publish(TrackEvent("created", row.uri, row))
        if publish:
            row = await self._publish(row, await self._sessions.auth_for_viewer(viewer))
        return row

    async def _upload(
        self,
        viewer: Viewer,
        upload: StagedUpload,
        title: str | None,
        artist: str | None,
        album: str | None,
    ) -> TrackRow:
        title, artist, album = _clean(title), _clean(artist), _clean(album)
        if title == "":
            raise BadUserInputError("title is required (omit it to use the file's tags)")
        if artist == "":
            raise BadUserInputError("artist is required (omit it to use the file's tags)")
        info = await probe(upload.path)
        # Omitted fields come from the file's tags, then the file name / the uploader's handle.
        title = title or info.tags.get("title") or _title_from_filename(upload.filename)
        artist = artist or info.tags.get("artist") or viewer.handle
        album = info.tags.get("album") if album is None else (album or None)
        file_id = f"{upload.sha256}.{info.file_type}"
        now = self._clock.now()
        rkey = self._tids.next()
        record = TrackRecord(
            title=title,
            artist=artist,
            album=album,
            audio_url=self._store.public_url(file_id),
            file_type=info.file_type,
            duration=info.duration_seconds,
            created_at=format_datetime(now),
        )
        record.to_json(self._lexicons)  # a record that would fail the lexicon stops here
        wrote = await self._store.put(file_id, upload.path, info.content_type)
        try:
            return await self._index.insert(
                TrackRow(
                    uri=str(AtUri(viewer.did, TRACK_NSID, rkey)),
                    artist_did=viewer.did,
                    rkey=rkey,
                    cid=None,
                    title=title,
                    artist=artist,
                    album=album,
                    audio_url=record.audio_url,
                    file_id=file_id,
                    file_type=info.file_type,
                    duration=info.duration_seconds,
                    created_at=now,
                    record_created_at=record.created_at,
                    indexed_at=now,
                    artist_handle=viewer.handle,
                    publish_state=PublishState.DRAFT,
                    publish_error=None,
                    publish_attempts=0,
                    next_publish_at=None,
                )
            )
        except BaseException:
            if wrote:
                with anyio.CancelScope(shield=True):
                    await self._discard_object(file_id, excluding=None)
            raise

    async def _discard_object(self, file_id: str, *, excluding: int | None) -> None:
        try:
            if not await self._index.file_in_use(file_id, excluding=excluding):
                await self._store.delete(file_id)
        except Exception:
            log.exception("could not remove orphaned audio object %s", file_id)

    # -- publish ------------------------------------------------------------------------------

    async def publish(self, viewer: Viewer, uri: str) -> TrackRow:
        row = await self._owned(viewer, uri)
        if row.publish_state == PublishState.PUBLISHED:
            return row
        updated, error = await self._attempt(row, await self._sessions.auth_for_viewer(viewer))
        if isinstance(error, UnauthenticatedError):
            # The session ended (its refresh was refused): the track is FAILED, and the caller is
            # told to sign in again rather than handed a track.
            raise error
        return updated

    async def publish_due(self, row: TrackRow) -> TrackRow:
        """Background retry of one track, acting with its owner's newest session."""
        auth = await self._sessions.auth_for(row.artist_did)
        if auth is None:
            return await self._failed(
                row, UnauthenticatedError("no active session for this account; log in to publish")
            )
        return await self._publish(row, auth)

    async def _publish(self, row: TrackRow, auth: PdsAuth) -> TrackRow:
        updated, _ = await self._attempt(row, auth)
        return updated

    async def _attempt(self, row: TrackRow, auth: PdsAuth) -> tuple[TrackRow, RelayError | None]:
        """Write the record; on failure record it on the track and return the error too."""
        lease = self._clock.now() + self._retry.delay(row.publish_attempts + 1)
        # If relay dies mid-write the lease makes the worker pick the track up again.
        claimed = await self._index.claim_for_publish(
            row.id,
            [PublishState.DRAFT, PublishState.FAILED, PublishState.PUBLISHING],
            lease_until=lease,
        )
        if not claimed:
            current = await self._index.get(row.id)
            if current is None:
                raise NotFoundError(f"track {row.uri} was deleted")
            return current, None
        record = self.record_json(row)
        try:
            with self._pds_timer("publish"):
                ref = await self._pds.put_record(
                    auth,
                    collection=TRACK_NSID,
                    rkey=row.rkey,
                    record=record,
                    swap_record=None,  # relay owns this rkey: a retry after a lost reply is a no-op
                )
        except RelayError as exc:
            return await self._failed(row, exc), exc
        self._metrics.publishes.labels(outcome="published").inc()
        updated = await self._index.update(
            row.id,
            cid=ref.cid,
            publish_state=PublishState.PUBLISHED,
            publish_error=None,
            publish_attempts=0,
            next_publish_at=None,
        )
        updated = _still_there(updated, row)
        self._events.publish(TrackEvent("updated", updated.uri, updated))
        return updated, None

    async def _failed(self, row: TrackRow, exc: RelayError) -> TrackRow:
        attempts = row.publish_attempts + 1
        retry = isinstance(exc, UpstreamError | UnauthenticatedError)
        self._metrics.publishes.labels(outcome="retrying" if retry else "rejected").inc()
        log.warning("publish of %s failed (attempt %d): %s", row.uri, attempts, exc.message)
        next_at = self._clock.now() + self._retry.delay(attempts) if retry else None
        updated = await self._index.update(
            row.id,
            publish_state=PublishState.FAILED,
            publish_error=exc.message,
            publish_attempts=attempts,
            next_publish_at=next_at,
        )
        return _still_there(updated, row)

    # -- update -------------------------------------------------------------------------------

    async def update(self, viewer: Viewer, uri: str, changes: TrackChanges) -> TrackRow:
        row = await self._owned(viewer, uri)
        values: dict[str, str | None] = {}
        for name in ("title", "artist"):
            value = _clean(getattr(changes, name))
            if value is not None:
                if not value:
                    raise BadUserInputError(f"{name} must not be empty")
                values[name] = value
        if changes.album is not None:
            values["album"] = _clean(changes.album) or None
        if not values:
            return row
        candidate = _record_of(row).model_copy(update=values)
        record = candidate.to_json(self._lexicons)
        if row.publish_state == PublishState.PUBLISHED:
            auth = await self._sessions.auth_for_viewer(viewer)
            with self._pds_timer("update"):
                ref = await self._pds.put_record(
                    auth, collection=TRACK_NSID, rkey=row.rkey, record=record, swap_record=row.cid
                )
            updated = await self._index.update(row.id, cid=ref.cid, **values)
        else:
            updated = await self._index.update(row.id, **values)
        updated = _still_there(updated, row)
        self._events.publish(TrackEvent("updated", updated.uri, updated))
        return updated

    # -- delete -------------------------------------------------------------------------------

    async def delete(self, viewer: Viewer, uri: str) -> TrackRow:
        row = await self._owned(viewer, uri)
        if row.publish_state != PublishState.DRAFT:
            auth = await self._sessions.auth_for_viewer(viewer)
            with self._pds_timer("delete"):
                await self._pds.delete_record(auth, collection=TRACK_NSID, rkey=row.rkey)
            await self._index.update(
                row.id, publish_state=PublishState.DRAFT, cid=None, next_publish_at=None
            )
        if row.file_id is not None and not await self._index.file_in_use(
            row.file_id, excluding=row.id
        ):
            await self._store.delete(row.file_id)
        await self._index.delete(row.id)
        self._events.publish(TrackEvent("deleted", row.uri, row))
        return row

    async def discard_audio(self, rows: Sequence[TrackRow]) -> None:
        """Remove the stored audio of tracks that left the index (deleted elsewhere), unless
        another track still uses the same bytes."""
        for row in rows:
            if row.file_id is not None:
                await self._discard_object(row.file_id, excluding=None)

    async def artist_stats(self, dids: Sequence[str]) -> dict[str, ArtistStats]:
        return await self._index.artist_stats(dids)

    async def did_for_handle(self, handle: str) -> str | None:
        """The DID whose tracks carry ``handle`` in the index (no network lookup)."""
        return await self._index.did_for_handle(handle.strip().lower().removeprefix("@"))

    def record_json(self, row: TrackRow) -> dict[str, object]:
        """The record exactly as relay writes it to the artist's repo (validated)."""
        return _record_of(row).to_json(self._lexicons)

    # -- helpers ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _pds_timer(self, operation: str) -> Iterator[None]:
        """Observe the latency of one PDS write, whether it succeeds or fails."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._metrics.pds_write_seconds.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    async def get(self, uri: str) -> TrackRow | None:
        return await self._index.get_by_uri(uri)

    async def get_many(self, uris: list[str]) -> dict[str, TrackRow]:
        return await self._index.get_many_by_uri(uris)

    async def page(self, flt: TrackFilter, order: TrackOrder, req: PageRequest) -> TrackPage:
        return await self._index.page(flt, order, req)

    async def _owned(self, viewer: Viewer, uri: str) -> TrackRow:
        row = await self._index.get_by_uri(uri)
        if row is None:
            raise NotFoundError(f"no track {uri}")
        if row.artist_did != viewer.did:
            raise ForbiddenError("only the track's owner may change it")
        return row
