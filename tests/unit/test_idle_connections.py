"""PostgreSQL connections are pinged only after sitting idle: a dropped idle connection is
replaced before use, and a connection in steady use costs no extra round trip."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

from relay.assembly import assemble
from relay.db.engine import create_engine
from relay.settings import Settings
from tests.harness.postgres import scratch_database


async def _backend_pid(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_an_idle_connection_dropped_by_the_server_is_replaced() -> None:
    async with scratch_database() as url:
        engine = create_engine(url, ping_after_idle=0.2)
        try:
            first = await _backend_pid(engine)
            async with create_engine(url).connect() as admin:  # as a restarted server would
                await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
            await asyncio.sleep(0.3)
            second = await _backend_pid(engine)  # no error: the dead one was pinged, replaced
            assert second != first
        finally:
            await engine.dispose()


async def test_a_busy_connection_is_not_pinged() -> None:
    async with scratch_database() as url:
        engine = create_engine(url, ping_after_idle=60)
        pings: list[object] = []
        original = engine.dialect.do_ping

        def counted_ping(dbapi_connection: Any) -> bool:
            pings.append(dbapi_connection)
            return original(dbapi_connection)

        engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]
        statements: list[str] = []
        event.listen(
            engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        try:
            for _ in range(5):
                await _backend_pid(engine)
            assert pings == []
            assert statements == ["SELECT pg_backend_pid()"] * 5
        finally:
            await engine.dispose()


async def test_a_burst_of_reads_reuses_the_pool_instead_of_connecting_anew() -> None:
    """Twenty reads at once, again and again: the second burst and later ones open no
    connection (SQLAlchemy's default pool of 5 opened and closed 15 for each)."""
    async with scratch_database() as url:
        engine = create_engine(url, pool_size=20, pool_overflow=5)
        opened: list[object] = []
        event.listen(engine.sync_engine, "connect", lambda *a: opened.append(a))
        try:

            async def read() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT pg_sleep(0.02)"))

            await asyncio.gather(*(read() for _ in range(20)))
            first = len(opened)
            for _ in range(3):
                await asyncio.gather(*(read() for _ in range(20)))
            assert first == 20
            assert len(opened) == first
        finally:
            await engine.dispose()


async def test_relay_sizes_its_pool_by_the_settings(tmp_path: Path) -> None:
    assert (
        Settings(_env_file=None).database_pool_size,
        Settings(_env_file=None).database_pool_overflow,
    ) == (
        20,
        10,
    )
    async with scratch_database() as url, AsyncExitStack() as stack:
        settings = Settings(
            _env_file=None, data_dir=tmp_path, database_url=url, auto_migrate=True,
            database_pool_size=7, database_pool_overflow=3,
        )  # fmt: skip
        parts = await assemble(settings, stack)
        pool: Any = parts.engine.sync_engine.pool
        assert (pool.size(), pool._max_overflow) == (7, 3)
