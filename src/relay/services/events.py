"""In-process fan-out of index changes to GraphQL subscribers.

Every writer (relay's own mutations, backfill, the firehose) publishes what it applied; each
subscriber has a bounded queue, and one that cannot keep up loses its oldest events rather than
slowing the writers down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from relay.db.models import TrackRow


@dataclass(frozen=True)
class TrackEvent:
    kind: str  # created | updated | deleted
    uri: str
    row: TrackRow


class TrackEventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[TrackEvent]] = set()

    def publish(self, event: TrackEvent) -> None:
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # drop the oldest for a slow subscriber
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[TrackEvent]]:
        queue: asyncio.Queue[TrackEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
