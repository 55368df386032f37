"""The background publisher: retries FAILED (and interrupted PUBLISHING) tracks with backoff,
and finishes deletes their process did not.

Its state is the index itself (``publish_state``, ``next_publish_at``, ``delete_requested_at``
and the leases), so it survives restarts and several processes can run it side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from relay.clock import Clock
from relay.db.tracks import TrackIndex
from relay.services.publishing import Publishing
from relay.services.track_edits import TrackEdits

log = logging.getLogger(__name__)


class PublishWorker:
    def __init__(
        self,
        *,
        index: TrackIndex,
        publishing: Publishing,
        edits: TrackEdits,
        clock: Clock,
        interval: float,
        batch_size: int,
    ) -> None:
        self._index = index
        self._publishing = publishing
        self._edits = edits
        self._batch_size = batch_size
        self._clock = clock
        self._interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Publish every track that is due now and finish interrupted deletes; return how many
        were attempted."""
        now = self._clock.now()
        due = await self._index.due_for_publish(now, self._batch_size)
        for row in due:
            try:
                await self._publishing.publish_due(row)
            except Exception:
                log.exception("background publish of %s crashed", row.uri)
        deletes = await self._index.due_deletes(now, self._batch_size)
        for row in deletes:
            try:
                await self._edits.finish_delete(row)
            except Exception:
                log.exception("finishing the delete of %s failed; retrying later", row.uri)
        return len(due) + len(deletes)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("publish worker pass failed; retrying")
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a cancel that
            # arrives as its timeout fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
