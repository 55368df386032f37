"""index_state.version moves once per transaction that changed tracks, and two writers of
tracks never wait on each other through it (real PostgreSQL: a counter row locked at each
statement deadlocked two writers that each touched a row the other held)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.index_version import IndexVersion
from relay.db.tracks import TrackIndex
from tests.harness.catalog import EPOCH, catalog_row

DID = "did:plc:" + "d" * 24
VERSION = text("SELECT version FROM index_state")
RENAME = text("UPDATE tracks SET title = :t WHERE rkey = :k")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        await ensure_migrated(engine, migrate=True)
        index = TrackIndex(session_factory(engine))
        for i in range(2):
            await index.insert(
                catalog_row(DID, f"k{i}", title=f"T{i}", artist="A",
                            created_at=EPOCH + timedelta(minutes=i))
            )  # fmt: skip
        yield engine
    finally:
        await engine.dispose()


async def version(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(VERSION)).scalar_one())


async def test_one_bump_per_transaction_that_changed_tracks(engine: AsyncEngine) -> None:
    before = await version(engine)
    async with engine.begin() as conn:
        for title in ("a", "b", "c"):
            await conn.execute(RENAME, {"t": title, "k": "k0"})
    after_one = await version(engine)
    assert after_one > before
    if engine.dialect.name == "postgresql":
        assert after_one == before + 1  # deferred to the commit, once
    async with engine.begin() as conn:
        await conn.execute(RENAME, {"t": "x", "k": "no such track"})
        await conn.execute(text("DELETE FROM sync_cursors"))
    assert await version(engine) == after_one, "no track changed"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_writers_of_tracks_do_not_deadlock(engine: AsyncEngine) -> None:
    before = await version(engine)
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        await first.execute(RENAME, {"t": "first", "k": "k0"})
        # Would wait for the counter row the first writer holds (and then deadlock).
        await asyncio.wait_for(second.execute(RENAME, {"t": "second", "k": "k1"}), 5)
        crossing = asyncio.create_task(first.execute(RENAME, {"t": "first", "k": "k1"}))
        await asyncio.sleep(0.2)
        await asyncio.wait_for(second.commit(), 5)
        await asyncio.wait_for(crossing, 5)
        await first.commit()
    assert await version(engine) == before + 2


OTHER = "did:plc:" + "e" * 24


async def test_an_artists_token_moves_only_with_that_artists_tracks(engine: AsyncEngine) -> None:
    """``artist_versions`` (migration 0008) and ``IndexVersion.token``: a change to one artist's
    tracks — by this process or another — moves that artist's token and the whole index's, and
    leaves every other artist's as it was."""
    index = TrackIndex(session_factory(engine))
    await index.insert(catalog_row(OTHER, "k9", title="E", artist="E", created_at=EPOCH))
    versions = IndexVersion(engine, recheck_seconds=0)
    other = create_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        await versions.refresh()
        before = {did: versions.token(frozenset({did})) for did in (DID, OTHER)}
        everything = versions.token(None)
        async with other.begin() as conn:  # another process renames one of DID's tracks
            await conn.execute(RENAME, {"t": "renamed", "k": "k0"})
        await versions.refresh()
        assert versions.token(frozenset({DID})) != before[DID]
        assert versions.token(frozenset({OTHER})) == before[OTHER]
        assert versions.token(frozenset({DID, OTHER})) != (before[DID], before[OTHER])
        assert versions.token(None) != everything
        # This process deletes OTHER's track: seen at once, and only for OTHER.
        moved = versions.token(frozenset({DID}))
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tracks WHERE artist_did = :d"), {"d": OTHER})
        await versions.refresh()
        assert versions.token(frozenset({OTHER})) != before[OTHER]
        assert versions.token(frozenset({DID})) == moved
    finally:
        await other.dispose()
        versions.close()


async def test_artists_past_the_memory_bound_move_every_artists_token(
    engine: AsyncEngine,
) -> None:
    versions = IndexVersion(engine, recheck_seconds=0, max_artists=1)
    try:
        await versions.refresh()
        quiet = versions.token(frozenset({"did:plc:" + "q" * 24}))
        await TrackIndex(session_factory(engine)).insert(
            catalog_row(OTHER, "k8", title="E", artist="E", created_at=EPOCH)
        )
        async with engine.begin() as conn:
            await conn.execute(RENAME, {"t": "again", "k": "k1"})
        await versions.refresh()
        # Two artists changed, one remembered: the other cannot be told apart from one that
        # never changed, so every artist's answers go.
        assert versions.token(frozenset({"did:plc:" + "q" * 24})) != quiet
    finally:
        versions.close()


async def test_a_burst_of_requests_after_a_commit_shares_one_read(engine: AsyncEngine) -> None:
    # Every request after a commit asks for a refresh. Each once read in turn — 100 identical
    # reads one after another, which held a burst of requests for 1 to 2 s under load. A read
    # that began after a caller asked serves that caller; none began earlier here.
    versions = IndexVersion(engine, recheck_seconds=3600)
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM index_state" in statement:
            reads.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await versions.refresh()
        async with engine.begin() as conn:  # this process's commit: every caller must see it
            await conn.execute(RENAME, {"t": "burst", "k": "k0"})
        before = versions.token(frozenset({DID}))
        reads.clear()
        await asyncio.gather(*(versions.refresh() for _ in range(50)))
        assert 1 <= len(reads) <= 2, len(reads)
        assert versions.token(frozenset({DID})) != before  # and what was read is the commit
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        versions.close()
