"""Statistics for SQLite's query planner, kept current as the index grows.

Without them SQLite cannot tell that ``artist_did = ?`` picks a few tracks while ``hidden = 0``
picks them all: an artist's page walked every track newest first (43 ms at 100,000 tracks, for an
artist with one). ``ANALYZE tracks`` tells it; ``refresh`` runs it when the table has none yet or
has doubled since (rarely: log2 of its growth), PostgreSQL's autovacuum does this by itself.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("relay.db")

MIN_ROWS = 1000  # below this any plan is fast


async def refresh(engine: AsyncEngine) -> bool:
    """Analyze ``tracks`` on SQLite when its statistics are missing or it has doubled since they
    were taken. Returns whether it did."""
    if engine.dialect.name != "sqlite":
        return False
    async with engine.connect() as conn:
        stat = (
            await conn.execute(
                text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'tracks' AND stat != '' LIMIT 1")
            )
        ).scalar()
        rows = int((await conn.execute(text("SELECT count(*) FROM tracks"))).scalar_one())
    then = int(str(stat).split()[0]) if stat else 0
    if rows < MIN_ROWS or rows < 2 * then:
        return False
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE tracks"))
    log.info("planner statistics of tracks refreshed (%d rows, were %d)", rows, then)
    return True


async def refresh_forever(engine: AsyncEngine, interval: float) -> None:
    """``refresh`` now and every ``interval`` seconds (a failure is logged, not fatal)."""
    while True:
        try:
            await refresh(engine)
        except Exception:
            log.exception("refreshing the planner statistics of tracks failed")
        await asyncio.sleep(interval)
