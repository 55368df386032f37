"""Fan-out of index changes (tracks; likes and lists) to GraphQL subscribers.

Every writer (relay's own mutations, backfill, the firehose) publishes what it applied. Each
subscriber has a bounded queue; one that cannot keep up loses its oldest events rather than slowing
the writers down.

- ``TrackEventBus``: within one process (SQLite deployments, tests).
- ``SharedEventBus``: across processes on one PostgreSQL — events go to the event log and every
  process (API replicas, ``relay ingest``) is woken by ``LISTEN/NOTIFY`` to deliver what it has not
  seen to its own subscribers, its own writes included.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

from relay.clock import Clock
from relay.db.event_log import EventLog, listen
from relay.services.views import AnyEvent, event_from_json

log = logging.getLogger(__name__)


class EventBus(Protocol):
    @property
    def listening(self) -> bool:
        """Whether anyone may receive what is published (else events need not be built)."""
        ...

    async def publish(self, *events: AnyEvent) -> None: ...

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[AnyEvent]]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TrackEventBus:
    """Subscribers of this process."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[AnyEvent]] = set()

    async def publish(self, *events: AnyEvent) -> None:
        self.deliver(events)

    def deliver(self, events: tuple[AnyEvent, ...] | list[AnyEvent]) -> None:
        for queue in self._subscribers:
            for event in events:
                if queue.full():
                    queue.get_nowait()  # drop the oldest for a slow subscriber
                queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[AnyEvent]]:
        queue: asyncio.Queue[AnyEvent] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def start(self) -> None:
        """Nothing to start: delivery is immediate."""

    async def stop(self) -> None:
        """Nothing to stop."""

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def listening(self) -> bool:
        return bool(self._subscribers)


class SharedEventBus:
    """Events of every process sharing one PostgreSQL database."""

    def __init__(
        self,
        *,
        log_: EventLog,
        dsn: str,
        local: TrackEventBus,
        clock: Clock,
        retention: timedelta,
        poll_seconds: float,
    ) -> None:
        self._log = log_
        self._dsn = dsn
        self._local = local
        self._clock = clock
        self._retention = retention
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._last_id = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def listening(self) -> bool:
        return True  # other processes' subscribers are not known here

    async def publish(self, *events: AnyEvent) -> None:
        if events:
            await self._log.append([e.to_json() for e in events], now=self._clock.now())

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[AnyEvent]]:
        return self._local.subscribe()

    async def start(self) -> None:
        self._last_id = await self._log.last_id()  # subscribers see what happens from now on
        self._tasks = [
            asyncio.create_task(
                listen(self._dsn, self._wake.set, retry_seconds=self._poll_seconds),
                name="relay-event-listener",
            ),
            asyncio.create_task(self._deliver_forever(), name="relay-event-delivery"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _deliver_forever(self) -> None:
        pruned_at = self._clock.now()
        while True:
            # A notification wakes delivery at once; the timeout is a safety net for a lost one.
            # asyncio.timeout, not wait_for: in Python 3.11 wait_for can swallow a cancel that
            # arrives as its timeout fires, and this loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._deliver_new()
                now = self._clock.now()
                if now - pruned_at > self._retention / 4:
                    await self._log.prune(now - self._retention)
                    pruned_at = now
            except Exception:
                log.exception("could not read the event log; retrying")

    async def _deliver_new(self) -> None:
        while True:
            rows = await self._log.after(self._last_id, limit=500)
            if not rows:
                return
            events = []
            for row_id, payload in rows:
                self._last_id = row_id
                try:
                    events.append(event_from_json(payload))
                except ValueError:
                    log.warning("event %d in the log is unreadable; skipped", row_id)
            self._local.deliver(events)
