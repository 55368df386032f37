"""Backfill: index the records of every indexed collection (``app.relay.track``,
``app.relay.like``) already in users' repos.

Repos come from explicit DIDs or handles, from every repo on a PDS host (``sync.listRepos``), or
from every repo a relay reports for the collection (``sync.listReposByCollection``). Each repo is
read page by page (``repo.listRecords``, of the collections ``repo.describeRepo`` names) or in
one request (``sync.getRepo``, a CAR walked here), validated, and upserted; records gone from
the repo leave the index. Repos run with bounded concurrency; one bad repo is recorded and
skipped. A run is resumable: repos finished by a run that crashed are skipped when the same run
starts again, and a run that completes forgets them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from relay.atproto.identity import IdentityResolver
from relay.atproto.repos import RepoClient, RepoRecord
from relay.atproto.tid import is_tid
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.sync import RecordDelete, SyncStore, removed_tracks
from relay.domain import TrackEventKind
from relay.errors import RelayError, RepoUnavailableError
from relay.services.ingest import COLLECTIONS, RecordIngest

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class _Repo:
    """One collection of a repo being read: its DID, revision, handle and the collection."""

    did: str
    rev: str | None
    handle: str | None
    collection: str
    pds_url: str | None = None


@dataclass(frozen=True)
class BackfillRequest:
    dids: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    pds_hosts: tuple[str, ...] = ()
    relay_hosts: tuple[str, ...] = ()
    # The firehose's host when relay has no cursor for it: asked which repos hold tracks
    # (listReposByCollection, as relays answer); a PDS, which cannot, lists its own repos.
    stream_hosts: tuple[str, ...] = ()
    use_car: bool = False

    @property
    def names_repos(self) -> bool:
        return bool(
            self.dids or self.handles or self.pds_hosts or self.relay_hosts or self.stream_hosts
        )

    @property
    def run_id(self) -> str:
        """Stable for the same request, so rerunning a crashed command resumes it."""
        key = json.dumps(
            [sorted(self.dids), sorted(self.handles), sorted(self.pds_hosts),
             sorted(self.relay_hosts), self.use_car]
            + ([sorted(self.stream_hosts)] if self.stream_hosts else []),
        )  # fmt: skip
        return "backfill-" + hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class BackfillReport:
    run_id: str
    started_at: datetime
    repos: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    records: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    invalid: int = 0
    seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)
    finished: bool = False


Progress = Callable[[BackfillReport], None]
OnRemoved = Callable[[Sequence[TrackRow]], Awaitable[None]]


async def _prefetched(pages: AsyncGenerator[T, None], depth: int = 2) -> AsyncGenerator[T, None]:
    """Fetch the next pages while the caller is still writing the current one. Close it (the
    caller's ``aclosing``): its fetching task and ``pages`` end with it, not when it is garbage
    collected — a repo that failed or was cancelled while writing a page left both running."""
    queue: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue(depth)

    async def produce() -> None:
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    await queue.put((page, None, False))
        except asyncio.CancelledError:
            raise  # the caller is done with the pages
        except BaseException as exc:  # the caller's to handle, even a process dying
            await queue.put((None, exc, True))
        else:
            await queue.put((None, None, True))

    producer = asyncio.create_task(produce(), name="relay-backfill-pages")
    try:
        while True:
            page, error, done = await queue.get()
            if error is not None:
                raise error
            if done:
                return
            assert page is not None
            yield page
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


class Backfill:
    def __init__(
        self,
        *,
        identity: IdentityResolver,
        repos: RepoClient,
        sync: SyncStore,
        ingest: RecordIngest,
        clock: Clock,
        concurrency: int = 8,
        on_removed: OnRemoved | None = None,
        repo_timeout: float = 600.0,
        max_host_repos: int = 10_000,
        batch_records: int = 500,
    ) -> None:
        self._batch_records = batch_records
        self._repo_timeout = repo_timeout
        self._max_host_repos = max_host_repos
        self._identity = identity
        self._repos = repos
        self._sync = sync
        self._ingest = ingest
        self._clock = clock
        self._concurrency = concurrency
        self._on_removed = on_removed
        self.current: BackfillReport | None = None

    async def _targets(self, request: BackfillRequest, report: BackfillReport) -> list[str]:
        dids: list[str] = list(request.dids)
        for handle in request.handles:
            try:
                dids.append((await self._identity.resolve(handle)).did)
            except RelayError as exc:
                report.errors.append((handle, exc.message))
        for host in request.pds_hosts:
            try:
                dids += [did async for did in self._repos.list_repos(host)]
            except RelayError as exc:
                report.errors.append((host, exc.message))
        for host in request.relay_hosts:
            try:
                dids += await self._repos_by_collection(host)
            except RelayError as exc:
                report.errors.append((host, exc.message))
        for host in request.stream_hosts:
            dids += await self._stream_host_repos(host, report)
        return list(dict.fromkeys(dids))  # unique, in order

    async def _repos_by_collection(self, host: str) -> list[str]:
        """The repos a relay host lists for any of the indexed collections."""
        dids: list[str] = []
        for nsid, kind in COLLECTIONS.items():
            if not kind.alongside:  # a profile is no reason to read a repo
                dids += [did async for did in self._repos.list_repos_by_collection(host, nsid)]
        return dids

    async def _stream_host_repos(self, host: str, report: BackfillReport) -> list[str]:
        """Repos with tracks on the firehose's host: by collection when it is a relay; every
        repo when it is a PDS — but never more than ``max_host_repos`` (a relay that cannot
        answer by collection would otherwise list the whole network)."""
        try:
            return await self._repos_by_collection(host)
        except RelayError:
            pass
        dids: list[str] = []
        try:
            async for did in self._repos.list_repos(host):
                if len(dids) >= self._max_host_repos:
                    report.errors.append(
                        (host, f"lists more than {self._max_host_repos} repos and cannot list "
                         "them by collection; backfill chosen repos or a relay instead"),
                    )  # fmt: skip
                    return []
                dids.append(did)
        except RelayError as exc:
            report.errors.append((host, exc.message))
        return dids

    async def run(
        self, request: BackfillRequest, *, progress: Progress | None = None
    ) -> BackfillReport:
        started = time.perf_counter()
        report = BackfillReport(run_id=request.run_id, started_at=self._clock.now())
        self.current = report
        targets = await self._targets(request, report)
        done_before = await self._sync.backfill_done(report.run_id)
        report.repos = len(targets)
        report.skipped = sum(1 for did in targets if did in done_before)
        invalid_before = sum(self._ingest.stats.dropped.values())
        gate = asyncio.Semaphore(self._concurrency)

        async def one(did: str) -> None:
            async with gate:
                try:
                    async with asyncio.timeout(self._repo_timeout):
                        await self._repo(did, request.use_car, report)
                except Exception as exc:  # one repo's failure, whatever it is, is that repo's
                    message = self._failure(did, exc)
                    report.failed += 1
                    report.errors.append((did, message))
                    await self._sync.backfill_mark(
                        report.run_id, did, "failed", records=0, error=message,
                        now=self._clock.now(),
                    )  # fmt: skip
                else:
                    report.done += 1
                finally:
                    report.seconds = time.perf_counter() - started
                    if progress is not None:
                        progress(report)

        await asyncio.gather(*(one(did) for did in targets if did not in done_before))
        report.invalid = sum(self._ingest.stats.dropped.values()) - invalid_before
        report.seconds = time.perf_counter() - started
        report.finished = True
        if report.failed == 0:
            await self._sync.forget_run(report.run_id)
        if progress is not None:
            progress(report)
        return report

    def _failure(self, did: str, exc: Exception) -> str:
        """What a repo's failure is recorded as: relay's words for what it knows; an error it did
        not expect (a bug, a database error) is logged whole and named only vaguely."""
        if isinstance(exc, RelayError):
            return exc.message
        if isinstance(exc, TimeoutError):
            return f"the repo took longer than {self._repo_timeout:g}s"
        log.exception("backfill of %s failed unexpectedly", did)
        return "relay could not index this repo (an internal error; see relay's log)"

    async def _repo(self, did: str, use_car: bool, report: BackfillReport) -> None:
        identity = await self._identity.resolve(did)
        # What the index held before: of it, what the repo no longer lists is removed at the end
        # (not what the firehose adds meanwhile, which no page could list).
        before = await self._sync.uris_of(did)
        seen: set[str] = set()
        count = 0
        if use_car:
            rev, by_collection = await self._repos.export_records(
                identity.pds_url, did, list(COLLECTIONS), signing_key=identity.signing_key
            )
            for nsid, records in by_collection.items():
                if COLLECTIONS[nsid].alongside and not (seen or before):
                    continue  # a profile only of a repo relay indexes
                place = _Repo(did, rev, identity.handle, nsid, identity.pds_url)
                count += await self._index(place, records, seen, report)
        else:
            rev = await self._repos.latest_rev(identity.pds_url, did)
            if rev is not None and not is_tid(rev):
                # Every record listed at it would be refused (``bad_rev``), and then removed as
                # gone from the repo: a PDS that names no honest revision fails its repo instead.
                raise RepoUnavailableError("its PDS names a revision that is not a TID")
            # The collections it holds: one request, instead of listing each one it lacks (most
            # repos hold tracks, a profile and nothing else relay indexes).
            held = await self._repos.collections(identity.pds_url, did)
            for nsid, kind in COLLECTIONS.items():  # the alongside ones last
                if kind.alongside and not (seen or before):
                    continue
                if held is not None and nsid not in held:
                    continue  # none to list: what the index holds of it is gone
                place = _Repo(did, rev, identity.handle, nsid, identity.pds_url)
                batch: list[RepoRecord] = []
                listing = _prefetched(self._repos.list_records(identity.pds_url, did, nsid))
                async with contextlib.aclosing(listing):
                    async for page in listing:
                        batch += page  # several pages per transaction: fewer commits, lookups
                        if len(batch) >= self._batch_records:
                            count += await self._index(place, batch, seen, report)
                            batch = []
                if batch:
                    count += await self._index(place, batch, seen, report)
        gone = before - seen
        if gone:
            # Deleted at or before the revision listed (a TID: the CAR's is checked, a listing's
            # above): a tombstone at it keeps an older copy (a stream replayed from an old
            # cursor) from indexing the record again.
            deletes = [RecordDelete(uri, rev=rev) for uri in sorted(gone)]
            applied = await self._sync.apply(deletes, now=self._clock.now())
            await self._ingest.announce(applied)
            report.removed += len(applied)
            if self._on_removed is not None:
                await self._on_removed(removed_tracks(applied))
        await self._sync.backfill_mark(
            report.run_id, did, "done", records=count, error=None, now=self._clock.now()
        )

    async def _index(
        self, repo: _Repo, records: list[RepoRecord], seen: set[str], report: BackfillReport
    ) -> int:
        changes = []
        for record in records:
            change = self._ingest.upsert(
                did=repo.did, rkey=record.rkey, cid=record.cid, rev=repo.rev,
                value=record.value, handle=repo.handle, collection=repo.collection,
                pds_url=repo.pds_url,
            )  # fmt: skip
            if change is not None:
                changes.append(change)
                seen.add(change.uri)
        applied = await self._sync.apply(changes, now=self._clock.now())
        await self._ingest.announce(applied)
        report.records += len(records)
        report.created += sum(1 for a in applied if a.kind is TrackEventKind.CREATED)
        report.updated += sum(1 for a in applied if a.kind is TrackEventKind.UPDATED)
        return len(records)
