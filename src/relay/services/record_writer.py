"""``RecordWriter``: relay's writes of a viewer's own likes and lists — the record to their repo
first, then into the index by the path the network's records take (``SyncStore``), then to
subscribers.

If the PDS refuses, nothing changed; if the index write fails after it, the firehose (or the next
backfill) indexes the record the PDS holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.pds import PdsClient, RecordRef
from relay.atproto.tid import TidClock
from relay.clock import Clock
from relay.db.sync import Change, SyncStore
from relay.metrics import RelayMetrics
from relay.services.events import EventBus
from relay.services.ingest import publish_applied
from relay.services.sessions import SessionService, Viewer


class _Record(Protocol):
    def to_json(self, lexicons: LexiconCatalog) -> dict[str, Any]: ...


class RecordWriter:
    def __init__(
        self,
        *,
        sync: SyncStore,
        sessions: SessionService,
        pds: PdsClient,
        lexicons: LexiconCatalog,
        clock: Clock,
        metrics: RelayMetrics,
        events: EventBus,
    ) -> None:
        self._sync = sync
        self._sessions = sessions
        self._pds = pds
        self._lexicons = lexicons
        self._clock = clock
        self._metrics = metrics
        self._events = events
        self._tids = TidClock()

    def now(self) -> datetime:
        return self._clock.now()

    def next_rkey(self) -> str:
        return self._tids.next()

    async def put(
        self,
        viewer: Viewer,
        *,
        collection: str,
        rkey: str,
        record: _Record,
        swap: str | None,
        metric: str,
    ) -> RecordRef:
        """Write ``record`` to the viewer's repo (checked against its lexicon first: a value
        out of bounds is refused before any call); the CID the PDS gave it and the revision of
        the commit (which the index keeps, so the firehose's echo of an older commit cannot
        undo this write)."""
        data = record.to_json(self._lexicons)
        auth = await self._sessions.auth_for_viewer(viewer)
        with self._metrics.pds_write(metric):
            return await self._pds.put_record(
                auth, collection=collection, rkey=rkey, record=data, swap_record=swap
            )

    async def delete(
        self, viewer: Viewer, *, collection: str, rkey: str, metric: str
    ) -> str | None:
        """Delete a record from the viewer's repo; the revision of the commit, when known."""
        auth = await self._sessions.auth_for_viewer(viewer)
        with self._metrics.pds_write(metric):
            return await self._pds.delete_record(auth, collection=collection, rkey=rkey)

    async def index(self, changes: Sequence[Change]) -> None:
        """Index what relay just wrote, and tell subscribers."""
        applied = await self._sync.apply(changes, now=self._clock.now())
        await publish_applied(self._events, applied)
