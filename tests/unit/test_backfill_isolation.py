"""One repo's unexpected failure (a bug, an error no one foresaw) fails that repo, logged whole,
and the run goes on with the others — on real SQLite and PostgreSQL. The fault is a fake's: no
real PDS raises a Python error in relay on demand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.identity import Identity
from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.records import TRACK_NSID
from relay.atproto.repos import RepoClient, RepoRecord
from relay.clock import SystemClock
from relay.db.models import LikeRow, TombstoneRow, TrackRow
from relay.db.sync import SyncStore
from relay.services.backfill import Backfill, BackfillRequest
from relay.services.events import TrackEventBus
from relay.services.ingest import RecordBounds, RecordIngest, SyncStats

BROKEN = "did:plc:" + "b" * 24
GOOD = "did:plc:" + "g" * 24
RKEY = "3kaaaaaaaaaa2"


class FakeIdentity:
    async def resolve(self, identifier: str) -> Identity:
        return Identity(identifier, None, "https://pds.example", None)

    async def aclose(self) -> None:
        pass


class FakeBrokenRepos:
    """Serves one track of ``GOOD``'s repo; reading ``BROKEN``'s raises what nobody expected."""

    async def collections(self, pds_url: str, did: str) -> frozenset[str] | None:
        return None  # not said: every collection is listed

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        return RKEY

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncGenerator[list[RepoRecord], None]:
        if did == BROKEN:
            raise RuntimeError("secret internals of a bug")
        if collection == TRACK_NSID:
            value: dict[str, Any] = {
                "$type": TRACK_NSID, "title": "Still indexed", "artist": "G", "fileType": "mp3",
                "audioUrl": "https://cdn.example/g.mp3", "createdAt": "2026-01-01T00:00:00.000Z",
            }  # fmt: skip
            yield [RepoRecord(rkey=RKEY, cid="bafyreigggggggggg", value=value)]


def track(title: str) -> dict[str, Any]:
    return {
        "$type": TRACK_NSID, "title": title, "artist": "B", "fileType": "mp3",
        "audioUrl": "https://cdn.example/b.mp3", "createdAt": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip


class FakeEndlessRepos:
    """Lists page after page of ``BROKEN``'s repo, for ever, and notes when a listing is closed.
    It keeps every listing it gave, so only closing one — not the garbage collector — ends it."""

    def __init__(self) -> None:
        self.listings: list[AsyncGenerator[list[RepoRecord], None]] = []
        self.closed: list[str] = []

    async def collections(self, pds_url: str, did: str) -> frozenset[str] | None:
        return None  # not said: every collection is listed

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        return RKEY

    def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncGenerator[list[RepoRecord], None]:
        listing = self._pages(did, collection)
        self.listings.append(listing)
        return listing

    async def _pages(self, did: str, collection: str) -> AsyncGenerator[list[RepoRecord], None]:
        try:
            while collection == TRACK_NSID:
                yield [RepoRecord(rkey=RKEY, cid="bafyreibbbbbbbbbb", value=track("Page"))]
        finally:
            self.closed.append(did)


class FakeBuggyIngest(RecordIngest):
    """Fails on ``BROKEN``'s records as a bug would (no real part raises on demand)."""

    def upsert(self, **kwargs: Any) -> Any:
        if kwargs["did"] == BROKEN:
            raise RuntimeError("a bug")
        return super().upsert(**kwargs)


def new_ingest(kind: type[RecordIngest] = RecordIngest) -> RecordIngest:
    return kind(
        lexicons=LexiconCatalog.load(default_lexicon_dir()), clock=SystemClock(),
        stats=SyncStats(), events=TrackEventBus(queue_size=1), bounds=RecordBounds(),
    )  # fmt: skip


async def test_an_unexpected_error_fails_its_repo_and_the_run_goes_on(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, FakeBrokenRepos()),
        sync=SyncStore(sessions, one_writer=True), ingest=new_ingest(), clock=SystemClock(),
    )  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="relay.services.backfill"):
        report = await backfill.run(BackfillRequest(dids=(BROKEN, GOOD)))
    assert (report.done, report.failed, report.created) == (1, 1, 1), report
    assert report.finished
    [(did, message)] = report.errors
    assert did == BROKEN and "internal error" in message
    assert "secret" not in message  # the details are in the log, not in what callers are told
    logged = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    async with sessions() as db:
        titles = list((await db.execute(select(TrackRow.title))).scalars())
    assert titles == ["Still indexed"]
    # The run is kept for the next run of the same request: the done repo is skipped, the
    # failed one tried again.
    again = await backfill.run(BackfillRequest(dids=(BROKEN, GOOD)))
    assert (again.skipped, again.done, again.failed) == (1, 0, 1), again


async def test_a_failed_repo_stops_reading_its_listing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The pages are fetched ahead by a task of their own: when the repo fails while a page is
    # written, that task and the listing end with it (they kept fetching, then waited for ever).
    repos = FakeEndlessRepos()
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, repos),
        sync=SyncStore(sessions, one_writer=True), ingest=new_ingest(FakeBuggyIngest),
        clock=SystemClock(), batch_records=1,
    )  # fmt: skip
    report = await backfill.run(BackfillRequest(dids=(BROKEN,)))
    assert (report.done, report.failed) == (0, 1), report
    assert repos.closed == [BROKEN]
    fetching = [t for t in asyncio.all_tasks() if t.get_name() == "relay-backfill-pages"]
    assert fetching == []


class FakeRevRepos:
    """A repo with one track, then none; ``rev`` is what the PDS names as its revision — a
    PDS's answer that no honest one gives is the fault (no real PDS sends it on demand)."""

    def __init__(self) -> None:
        self.rev = RKEY
        self.listed = True

    async def collections(self, pds_url: str, did: str) -> frozenset[str] | None:
        return None  # not said: every collection is listed

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        return self.rev

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncGenerator[list[RepoRecord], None]:
        if self.listed and collection == TRACK_NSID:
            yield [RepoRecord(rkey=RKEY, cid="bafyreigggggggggg", value=track("Gone soon"))]


async def test_a_record_found_gone_is_buried_at_the_listed_revision(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repos = FakeRevRepos()
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, repos),
        sync=SyncStore(sessions, one_writer=True), ingest=new_ingest(), clock=SystemClock(),
    )  # fmt: skip
    assert (await backfill.run(BackfillRequest(dids=(GOOD,)))).created == 1
    repos.rev, repos.listed = "3kaaaaaaaaab2", False
    report = await backfill.run(BackfillRequest(dids=(GOOD,)))
    assert (report.failed, report.removed) == (0, 1), report.errors
    async with sessions() as db:
        buried = dict((await db.execute(select(TombstoneRow.uri, TombstoneRow.rev))).all())
    assert buried == {f"at://{GOOD}/{TRACK_NSID}/{RKEY}": "3kaaaaaaaaab2"}


@pytest.mark.parametrize("listed", [True, False])
async def test_a_pds_naming_a_revision_that_is_no_tid_fails_the_repo_and_keeps_its_index(
    sessions: async_sessionmaker[AsyncSession], listed: bool
) -> None:
    # Every record listed at such a revision is refused (bad_rev): the repo looked empty, and
    # all its indexed tracks were removed as gone. Now the repo fails and nothing changes.
    repos = FakeRevRepos()
    ingest = new_ingest()
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, repos),
        sync=SyncStore(sessions, one_writer=True), ingest=ingest, clock=SystemClock(),
    )  # fmt: skip
    assert (await backfill.run(BackfillRequest(dids=(GOOD,)))).created == 1
    repos.rev, repos.listed = "not-a-tid-" + "x" * 100, listed
    report = await backfill.run(BackfillRequest(dids=(GOOD,)))
    assert (report.done, report.failed, report.removed) == (0, 1, 0), report
    assert report.errors == [(GOOD, "its PDS names a revision that is not a TID")]
    assert sum(ingest.stats.dropped.values()) == 0  # nothing was read at that revision
    async with sessions() as db:
        titles = list((await db.execute(select(TrackRow.title))).scalars())
        buried = list((await db.execute(select(TombstoneRow.uri))).scalars())
    assert (titles, buried) == (["Gone soon"], [])


class FakeDescribedRepos:
    """A repo with a track and a like whose PDS says which collections it holds (``held``);
    notes every collection listed (a PDS that lists what describeRepo left out is no fault a
    real one shows on demand)."""

    def __init__(self) -> None:
        self.held = frozenset({TRACK_NSID, "app.relay.like"})
        self.listed: list[str] = []

    async def collections(self, pds_url: str, did: str) -> frozenset[str] | None:
        return self.held

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        return RKEY

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncGenerator[list[RepoRecord], None]:
        self.listed.append(collection)
        if collection == TRACK_NSID:
            yield [RepoRecord(rkey=RKEY, cid="bafyreigggggggggg", value=track("Held"))]
        if collection == "app.relay.like":
            like = {
                "$type": "app.relay.like", "createdAt": "2026-01-01T00:00:00.000Z",
                "subject": {"uri": f"at://{GOOD}/{TRACK_NSID}/{RKEY}", "cid": "bafyreigggg"},
            }  # fmt: skip
            yield [RepoRecord(rkey="3kaaaaaaaaab2", cid="bafyreilllllllllll", value=like)]


async def test_only_the_collections_a_repo_holds_are_listed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repos = FakeDescribedRepos()
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, repos),
        sync=SyncStore(sessions, one_writer=True), ingest=new_ingest(), clock=SystemClock(),
    )  # fmt: skip
    assert (await backfill.run(BackfillRequest(dids=(GOOD,)))).created == 2  # a track, a like
    assert repos.listed == [TRACK_NSID, "app.relay.like"]  # no lists, no profile: not asked
    async with sessions() as db:
        assert len(list((await db.execute(select(LikeRow.uri))).scalars())) == 1
    # The likes are gone from the repo (its PDS no longer names the collection): so from the index.
    repos.held, repos.listed = frozenset({TRACK_NSID, "app.bsky.feed.post"}), []
    report = await backfill.run(BackfillRequest(dids=(GOOD,)))
    assert (report.failed, report.removed) == (0, 1), report.errors
    assert repos.listed == [TRACK_NSID]
    async with sessions() as db:
        assert list((await db.execute(select(LikeRow.uri))).scalars()) == []
        assert list((await db.execute(select(TrackRow.title))).scalars()) == ["Held"]
