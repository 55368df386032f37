"""index_state.version moves once per transaction that changed tracks, and two writers of
tracks never wait on each other through it (real PostgreSQL: a counter row locked at each
statement deadlocked two writers that each touched a row the other held)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.db.engine import create_engine, ensure_migrated, session_factory
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
