"""GraphQL types of the sync status (admins only)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from relay.services.backfill import BackfillReport
from relay.services.sync import SyncReport


@strawberry.type
class CountByName:
    name: str
    count: int


@strawberry.type
class CursorStatus:
    source: str
    cursor: str = strawberry.field(
        description="The last applied sequence number (a string: >2^31)."
    )
    lag_seconds: float | None = strawberry.field(
        description="Age of the last applied event's timestamp."
    )


@strawberry.type
class BackfillError:
    target: str = strawberry.field(description="The DID, handle or host that failed.")
    message: str


@strawberry.type
class BackfillProgress:
    run_id: str
    started_at: datetime
    repos: int
    done: int
    skipped: int = strawberry.field(description="Finished by an earlier, interrupted attempt.")
    failed: int
    records: int
    created: int
    updated: int
    removed: int
    invalid: int
    seconds: float
    finished: bool
    errors: list[BackfillError]

    @classmethod
    def from_report(cls, report: BackfillReport) -> BackfillProgress:
        return cls(
            run_id=report.run_id,
            started_at=report.started_at,
            repos=report.repos,
            done=report.done,
            skipped=report.skipped,
            failed=report.failed,
            records=report.records,
            created=report.created,
            updated=report.updated,
            removed=report.removed,
            invalid=report.invalid,
            seconds=report.seconds,
            finished=report.finished,
            errors=[BackfillError(target=t, message=m) for t, m in report.errors[:100]],
        )


@strawberry.type(description="A firehose this process follows.")
class FirehoseSource:
    source: str = strawberry.field(description="The stream, as ws(s)://host/xrpc.")
    connected: bool
    since: datetime | None = strawberry.field(
        description="When it connected, or when it was lost (while not connected)."
    )
    last_error: str | None = strawberry.field(description="Why it last failed or closed.")
    last_error_at: datetime | None


@strawberry.type
class SyncStatus:
    cursors: list[CursorStatus]
    events: int
    events_per_second: float
    applied: int
    gaps: int = strawberry.field(
        description="Commits that did not continue the last verified commit of their repo (one "
        "was withheld or rewritten): the repo was read again."
    )
    dropped: list[CountByName] = strawberry.field(description="Dropped events by reason.")
    backfill: BackfillProgress | None = strawberry.field(description="The running backfill.")
    last_backfill: BackfillProgress | None
    backfill_queued: int
    backfill_repos: list[CountByName] = strawberry.field(
        description="Repos of unfinished runs by status (pending, done, failed)."
    )
    firehose: list[FirehoseSource] = strawberry.field(
        description="The firehose this process follows (RELAY_FIREHOSE_URL), if any."
    )

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncStatus:
        def progress(value: BackfillReport | None) -> BackfillProgress | None:
            return None if value is None else BackfillProgress.from_report(value)

        return cls(
            cursors=[
                CursorStatus(source=c.source, cursor=str(c.cursor), lag_seconds=c.lag_seconds)
                for c in report.cursors
            ],
            events=report.events,
            events_per_second=report.events_per_second,
            applied=report.applied,
            gaps=report.gaps,
            dropped=[CountByName(name=k, count=v) for k, v in sorted(report.dropped.items())],
            backfill=progress(report.backfill_running),
            last_backfill=progress(report.backfill_last),
            backfill_queued=report.backfill_queued,
            backfill_repos=[
                CountByName(name=k, count=v) for k, v in sorted(report.backfill_repos.items())
            ],
            firehose=[
                FirehoseSource(
                    source=state.source,
                    connected=state.connected,
                    since=state.since,
                    last_error=state.last_error,
                    last_error_at=state.last_error_at,
                )
                for state in report.firehose
            ],
        )


@strawberry.type
class BackfillStarted:
    run_id: str = strawberry.field(description="Follow it in syncStatus.")
