"""The event log: index changes written once, read by every process (PostgreSQL ``LISTEN/NOTIFY``
says when to read; ids say what is new, so a missed notification loses nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg
from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from relay.db.bulk_insert import BulkInsert
from relay.db.models import TrackEventRow

log = logging.getLogger(__name__)

CHANNEL = "relay_track_events"


class EventLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        events: Table = TrackEventRow.__table__  # type: ignore[assignment]
        self._rows = BulkInsert(events, ("payload", "created_at"))  # a backfill's page of events

    async def append(self, payloads: Sequence[str], *, now: datetime) -> None:
        """Store ``payloads`` and, in the same transaction, notify every listening process."""
        async with self._sessions() as db, db.begin():
            await self._rows.run(db, [(payload, now) for payload in payloads])
            await db.execute(text(f"NOTIFY {CHANNEL}"))

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str]]:
        """Events newer than ``last_id``, oldest first."""
        async with self._sessions() as db:
            stmt = (
                select(TrackEventRow.id, TrackEventRow.payload)
                .where(TrackEventRow.id > last_id)
                .order_by(TrackEventRow.id)
                .limit(limit)
            )
            return [(int(i), str(p)) for i, p in (await db.execute(stmt)).all()]

    async def last_id(self) -> int:
        async with self._sessions() as db:
            return int((await db.execute(select(func.max(TrackEventRow.id)))).scalar() or 0)

    async def prune(self, before: datetime) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(TrackEventRow).where(TrackEventRow.created_at < before))


def listen_dsn(engine: AsyncEngine) -> str:
    """The engine's database as a plain asyncpg DSN (LISTEN needs a connection of its own)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(dsn: str, wake: Callable[[], None], *, retry_seconds: float) -> None:
    """Hold a LISTEN connection until cancelled, calling ``wake`` on every notification and after
    each (re)connection (so what was written while disconnected is read too)."""
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=retry_seconds * 4)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("event listener: cannot connect (%s); retrying", exc.__class__.__name__)
            await asyncio.sleep(retry_seconds)
            continue
        try:
            await _hold(conn, wake, check_every=retry_seconds * 10)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("event listener: connection lost (%s); reconnecting", type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


async def _hold(conn: asyncpg.Connection, wake: Callable[[], None], *, check_every: float) -> None:
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    await conn.add_listener(CHANNEL, lambda *_args: wake())
    wake()
    while not lost.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(check_every):  # not wait_for: it can swallow a cancel
                await lost.wait()
        # A connection can die without telling: ask it something now and then.
        async with asyncio.timeout(check_every):
            await conn.fetchval("SELECT 1")
