"""The sync coordinator: background backfills (one at a time, queued), the firehose, its status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from relay.clock import Clock
from relay.db.sync import SyncStore
from relay.services.backfill import Backfill, BackfillReport, BackfillRequest
from relay.services.firehose import FirehoseConsumer, StreamState
from relay.services.ingest import SyncStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CursorStatus:
    source: str
    cursor: int
    lag_seconds: float | None


@dataclass(frozen=True)
class SyncReport:
    cursors: list[CursorStatus]
    events: int
    events_per_second: float
    applied: int
    gaps: int
    dropped: dict[str, int]
    backfill_running: BackfillReport | None
    backfill_last: BackfillReport | None
    backfill_queued: int
    backfill_repos: dict[str, int]
    firehose: list[StreamState]


class SyncCoordinator:
    def __init__(
        self,
        *,
        backfill: Backfill,
        sync: SyncStore,
        stats: SyncStats,
        clock: Clock,
        firehose: FirehoseConsumer | None = None,
    ) -> None:
        self.backfill = backfill
        self._sync = sync
        self.stats = stats
        self._clock = clock
        self.firehose = firehose
        self._queue: asyncio.Queue[BackfillRequest] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.last_report: BackfillReport | None = None
        self._running: BackfillReport | None = None

    def schedule(self, request: BackfillRequest) -> str:
        """Queue a backfill to run in the background; returns its run id."""
        self._queue.put_nowait(request)
        return request.run_id

    async def _backfills(self) -> None:
        while True:
            request = await self._queue.get()
            try:
                self.last_report = await self.backfill.run(request, progress=self._progress)
                log.info(
                    "backfill %s: %d repos, %d records, %d failed",
                    request.run_id, self.last_report.repos, self.last_report.records,
                    self.last_report.failed,
                )  # fmt: skip
            except Exception:
                log.exception("backfill %s crashed; rerun resumes it", request.run_id)
            finally:
                self._running = None

    def _progress(self, report: BackfillReport) -> None:
        self._running = None if report.finished else report

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._backfills(), name="relay-backfill"))
        if self.firehose is not None:
            self._tasks.append(asyncio.create_task(self.firehose.run(), name="relay-firehose"))

    async def stop(self) -> None:
        if self.firehose is not None:
            await self.firehose.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def status(self) -> SyncReport:
        now = self._clock.now()
        cursors = [
            CursorStatus(
                source=row.source,
                cursor=row.cursor,
                lag_seconds=(now - row.event_time).total_seconds() if row.event_time else None,
            )
            for row in await self._sync.cursors()
        ]
        return SyncReport(
            cursors=cursors,
            events=self.stats.events,
            events_per_second=self.stats.events_per_second(),
            applied=self.stats.applied,
            gaps=self.stats.gaps,
            dropped=dict(self.stats.dropped),
            backfill_running=self._running,
            backfill_last=self.last_report,
            backfill_queued=self._queue.qsize(),
            backfill_repos=await self._sync.backfill_summary(),
            firehose=[] if self.firehose is None else [self.firehose.state],
        )
