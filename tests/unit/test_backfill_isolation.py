"""One repo's unexpected failure (a bug, an error no one foresaw) fails that repo, logged whole,
and the run goes on with the others — on real SQLite and PostgreSQL. The fault is a fake's: no
real PDS raises a Python error in relay on demand."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.identity import Identity
from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.records import TRACK_NSID
from relay.atproto.repos import RepoClient, RepoRecord
from relay.clock import SystemClock
from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.models import TrackRow
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

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        return RKEY

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncIterator[list[RepoRecord]]:
        if did == BROKEN:
            raise RuntimeError("secret internals of a bug")
        if collection == TRACK_NSID:
            value: dict[str, Any] = {
                "$type": TRACK_NSID, "title": "Still indexed", "artist": "G", "fileType": "mp3",
                "audioUrl": "https://cdn.example/g.mp3", "createdAt": "2026-01-01T00:00:00.000Z",
            }  # fmt: skip
            yield [RepoRecord(rkey=RKEY, cid="bafyreigggggggggg", value=value)]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    try:
        await ensure_migrated(engine, migrate=True)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_an_unexpected_error_fails_its_repo_and_the_run_goes_on(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    ingest = RecordIngest(
        lexicons=LexiconCatalog.load(default_lexicon_dir()), clock=SystemClock(),
        stats=SyncStats(), events=TrackEventBus(queue_size=1), bounds=RecordBounds(),
    )  # fmt: skip
    backfill = Backfill(
        identity=FakeIdentity(), repos=cast(RepoClient, FakeBrokenRepos()),
        sync=SyncStore(sessions, one_writer=True), ingest=ingest, clock=SystemClock(),
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
