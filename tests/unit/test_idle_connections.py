"""PostgreSQL connections are pinged only after sitting idle: a dropped idle connection is
replaced before use, and a connection in steady use costs no extra round trip."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, text

from relay.db.engine import create_engine
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
