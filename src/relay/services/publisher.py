"""The background publisher: retries FAILED (and interrupted PUBLISHING) tracks with backoff.

Its state is the index itself (``publish_state``, ``next_publish_at``), so it survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from relay.clock import Clock
from relay.db.tracks import TrackIndex
from relay.services.tracks import TrackService

log = logging.getLogger(__name__)


class PublishWorker:
    def __init__(
        self, *, index: TrackIndex, tracks: TrackService, clock: Clock, interval: float
    ) -> None:
        self._index = index
        self._tracks = tracks
        self._clock = clock
        self._interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Publish every track that is due now; return how many were attempted."""
        due = await self._index.due_for_publish(self._clock.now())
        for row in due:
            try:
                await self._tracks.publish_due(row)
            except Exception:
                log.exception("background publish of %s crashed", row.uri)
        return len(due)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("publish worker pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
