"""Where the index reads: on SQLite, reader threads with their own connections (``SqliteReads``)
that see every committed write at once, can write nothing, tell the task that asked, and close
cleanly; on PostgreSQL (or with no threads) the async engine itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.models import TrackRow
from relay.db.reads import EngineReads, SqliteReads, reading_task, reads_for
from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import PageRequest, TrackOrder
from tests.harness.catalog import EPOCH, catalog_row
from tests.harness.postgres import scratch_database

DID = "did:plc:" + "r" * 24


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
    try:
        await ensure_migrated(engine, migrate=True)
        yield engine
    finally:
        await engine.dispose()


async def test_a_page_read_in_a_reader_thread_sees_each_write_at_once(engine: AsyncEngine) -> None:
    reads = reads_for(engine)
    assert isinstance(reads, SqliteReads)
    try:
        index = TrackIndex(session_factory(engine), reads=reads)
        threads: set[str] = set()

        def seen(*_: Any) -> None:
            threads.add(threading.current_thread().name)

        event.listen(reads.sync_engine, "before_cursor_execute", seen)
        for i in range(3):
            await index.insert(
                catalog_row(DID, f"k{i}", title=f"T{i}", artist="A",
                            created_at=EPOCH + timedelta(minutes=i))
            )  # fmt: skip
            page = await index.page(
                TrackFilter(artist_did=DID), TrackOrder(), PageRequest(first=10)
            )
            assert [row.title for row in page.rows] == [f"T{j}" for j in range(i, -1, -1)]
        assert await index.count(TrackFilter(artist_did=DID)) == 3
        assert threads and all(name.startswith("relay-sqlite-read") for name in threads)
    finally:
        await reads.close()


async def test_reader_connections_write_nothing(engine: AsyncEngine) -> None:
    reads = SqliteReads(str(engine.url))
    try:
        with pytest.raises(OperationalError, match="readonly"):
            await reads.all(text("DELETE FROM tracks"))
        assert await reads.scalar(select(TrackRow.id)) is None
    finally:
        await reads.close()


async def test_a_read_tells_the_task_that_asked(engine: AsyncEngine) -> None:
    reads = SqliteReads(str(engine.url))
    asked: list[str | None] = []

    def record(*_: Any) -> None:
        asked.append(reading_task.get())

    event.listen(reads.sync_engine, "before_cursor_execute", record)
    try:
        await asyncio.create_task(reads.scalar(text("SELECT 1")), name="relay-publisher")
        await asyncio.create_task(reads.scalar(text("SELECT 1")), name="a-client")
        assert asked == ["relay-publisher", "a-client"]
    finally:
        await reads.close()


async def test_close_waits_for_reads_under_way_then_ends_the_threads(engine: AsyncEngine) -> None:
    reads = SqliteReads(str(engine.url), threads=2)
    slow = asyncio.create_task(
        reads.scalar(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)"
                " SELECT count(*) FROM n"
            )
        )
    )
    await asyncio.sleep(0.01)
    await reads.close()
    assert await slow == 300000
    assert not [t for t in threading.enumerate() if t.name.startswith("relay-sqlite-read")]
    with pytest.raises(RuntimeError):
        await reads.scalar(text("SELECT 1"))


async def test_postgresql_and_no_threads_read_on_the_engine(
    engine: AsyncEngine, database_url: str
) -> None:
    assert isinstance(reads_for(engine, threads=0), EngineReads)
    other = create_engine(database_url)
    try:
        chosen = reads_for(other)
        expected = SqliteReads if database_url.startswith("sqlite") else EngineReads
        assert isinstance(chosen, expected)
        if isinstance(chosen, SqliteReads):
            await chosen.close()
    finally:
        await other.dispose()


async def test_a_postgresql_read_sends_one_statement_and_sees_each_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No BEGIN before a read nor ROLLBACK after it (asyncpg sends those as simple queries, which
    are counted here on their way to the real server); a write committed on the engine is seen
    by the next read, and the engine's listeners see the reads."""
    simple: list[str] = []
    send = asyncpg.Connection.execute

    async def counted(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        simple.append(query)
        return await send(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", counted)
    async with scratch_database() as url:
        engine = create_engine(url)
        try:
            await ensure_migrated(engine, migrate=True)
            reads = reads_for(engine)
            assert isinstance(reads, EngineReads)
            statements: list[str] = []
            event.listen(
                reads.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
            )
            index = TrackIndex(session_factory(engine), reads=reads)
            await index.insert(catalog_row(DID, "k1", title="T1", artist="A", created_at=EPOCH))
            assert any(q.startswith("BEGIN") for q in simple)  # a write is a transaction
            simple.clear()
            for _ in range(3):
                assert await reads.scalar(text("SELECT count(*) FROM tracks")) == 1
            assert await index.count(TrackFilter(artist_did=DID)) == 1
            assert simple == []
            assert sum(s.startswith("SELECT count(*) FROM tracks") for s in statements) == 3
        finally:
            await engine.dispose()
