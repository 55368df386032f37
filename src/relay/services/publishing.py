"""Publishing a track's record to its owner's PDS: the state machine and its retry policy.

States: DRAFT → PUBLISHING → PUBLISHED, or → FAILED with ``publish_error``. A failure that may pass
(PDS down, session needing a refresh) is retried by the background worker with exponential
backoff kept in the database (``next_publish_at``); one that will not (a refused record) waits for
the owner. PUBLISHING carries a lease: if relay dies mid-write the worker picks the track up again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from relay.atproto.grants import PdsAuth
from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.pds import PdsClient
from relay.atproto.records import TRACK_NSID
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.track_mapper import record_of
from relay.db.tracks import Lease, TrackIndex
from relay.domain import PublishState, TrackEventKind
from relay.errors import NotFoundError, RelayError, UnauthenticatedError, UpstreamError
from relay.metrics import RelayMetrics
from relay.services.events import EventBus
from relay.services.ownership import TrackLeases, owned_track, still_there, written
from relay.services.sessions import SessionService, Viewer
from relay.services.views import TrackEvent, TrackView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        return timedelta(
            seconds=min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        )


class Publishing:
    def __init__(
        self,
        *,
        index: TrackIndex,
        sessions: SessionService,
        pds: PdsClient,
        lexicons: LexiconCatalog,
        clock: Clock,
        metrics: RelayMetrics,
        retry: RetryPolicy,
        leases: TrackLeases,
        events: EventBus,
    ) -> None:
        self._leases = leases
        self._index = index
        self._sessions = sessions
        self._pds = pds
        self._lexicons = lexicons
        self._clock = clock
        self._metrics = metrics
        self._retry = retry
        self._events = events

    async def publish(self, viewer: Viewer, uri: str) -> TrackView:
        """Publish a draft, or retry a failed publish, now (the viewer's own track)."""
        row = await owned_track(self._index, viewer, uri)
        if row.publish_state == PublishState.PUBLISHED:
            return TrackView.of(row)
        auth = await self._sessions.auth_for_viewer(viewer)
        updated, error = await self._attempt(row, auth, record_of(row).to_json(self._lexicons))
        if isinstance(error, UnauthenticatedError):
            # The session ended (its refresh was refused): the track is FAILED, and the caller is
            # told to sign in again rather than handed a track.
            raise error
        return TrackView.of(updated)

    async def publish_due(self, row: TrackRow) -> TrackRow:
        """Background retry of one track, acting with its owner's newest session."""
        auth = await self._sessions.auth_for(row.artist_did)
        if auth is None:
            return await self.failed(
                row, UnauthenticatedError("no active session for this account; log in to publish")
            )
        updated, _ = await self._attempt(row, auth, record_of(row).to_json(self._lexicons))
        return updated

    async def publish_checked(
        self, row: TrackRow, auth: PdsAuth, record: dict[str, Any]
    ) -> TrackRow:
        """Publish a track whose record the caller has just built and validated."""
        updated, _ = await self._attempt(row, auth, record)
        return updated

    async def _attempt(
        self, row: TrackRow, auth: PdsAuth, record: dict[str, Any]
    ) -> tuple[TrackRow, RelayError | None]:
        """Write the record under the track's lease; on failure record it on the track and
        return the error too. Only one process publishes (or deletes) a track at a time."""
        lease = self._leases.new()
        claimed = await self._index.claim(
            row.id,
            lease,
            publish_from=(PublishState.DRAFT, PublishState.FAILED, PublishState.PUBLISHING),
        )
        if not claimed:  # published, or another process holds the lease right now
            current = await self._index.get(row.id)
            if current is None:
                raise NotFoundError(f"track {row.uri} was deleted")
            return current, None
        try:
            with self._metrics.pds_write("publish"):
                ref = await self._pds.put_record(
                    auth,
                    collection=TRACK_NSID,
                    rkey=row.rkey,
                    record=record,
                    swap_record=None,  # relay owns this rkey: a retry after a lost reply is a no-op
                )
        except RelayError as exc:
            return await self.failed(row, exc, lease), exc
        updated = await self._index.release(
            row.id,
            lease,
            publish_state=PublishState.PUBLISHED,
            publish_error=None,
            publish_attempts=0,
            next_publish_at=None,
            replaced_image_file_id=None,  # an edit's old cover: no record shows it any more
            **written(ref),
        )
        if updated is None:
            return await self._lost_lease(row, auth), None
        self._metrics.publishes.labels(outcome="published").inc()
        await self._events.publish(TrackEvent(TrackEventKind.UPDATED, TrackView.of(updated)))
        return updated, None

    async def _lost_lease(self, row: TrackRow, auth: PdsAuth) -> TrackRow:
        """The write outlived the lease. If the track is gone meanwhile, the record just written
        must not stay on the PDS; if another process took over, its state stands."""
        current = await self._index.get(row.id)
        if current is not None:
            return current
        log.warning("publish of %s outlived its lease and the track was deleted; undoing", row.uri)
        with self._metrics.pds_write("delete"):
            await self._pds.delete_record(auth, collection=TRACK_NSID, rkey=row.rkey)
        raise NotFoundError(f"track {row.uri} was deleted")

    async def failed(self, row: TrackRow, exc: RelayError, lease: Lease | None = None) -> TrackRow:
        """Record a failed write of the track's record (FAILED; retried later when the PDS or
        the session may come back), giving ``lease`` back."""
        attempts = row.publish_attempts + 1
        retry = isinstance(exc, UpstreamError | UnauthenticatedError)
        self._metrics.publishes.labels(outcome="retrying" if retry else "rejected").inc()
        log.warning("publish of %s failed (attempt %d): %s", row.uri, attempts, exc.message)
        values: dict[str, Any] = {
            "publish_state": PublishState.FAILED,
            "publish_error": exc.message,
            "publish_attempts": attempts,
            "next_publish_at": self._clock.now() + self._retry.delay(attempts) if retry else None,
        }
        if lease is None:
            return still_there(await self._index.update(row.id, **values), row)
        updated = await self._index.release(row.id, lease, **values)
        return updated or still_there(await self._index.get(row.id), row)
