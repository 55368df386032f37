"""SQLite's planner gets statistics of tracks when they are missing or the table has doubled, and
with them an artist's page is a seek in the artist's index, not a walk of every track."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

from relay.db import planner_stats
from relay.db.engine import create_engine, ensure_migrated
from relay.db.models import TrackRow
from tests.harness.catalog import EPOCH, catalog_row

PAGE = (
    "EXPLAIN QUERY PLAN SELECT id FROM tracks WHERE artist_did = :d AND hidden = 0 "
    "AND delete_requested_at IS NULL AND publish_state = 'PUBLISHED' "
    "ORDER BY created_at DESC, id DESC LIMIT 11"
)


def _rows(start: int, count: int) -> list[dict[str, object]]:
    rows = []
    for i in range(start, start + count):
        row = catalog_row(
            f"did:plc:{i % 500:024d}", f"3k{i:011d}", title=f"T {i}", artist="A",
            created_at=EPOCH + timedelta(seconds=i),
        )  # fmt: skip
        rows.append(
            {c.name: getattr(row, c.name) for c in TrackRow.__table__.columns if c.name != "id"}
        )
    return rows


async def test_statistics_follow_the_growth_of_tracks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    try:
        await ensure_migrated(engine, migrate=True)
        assert not await planner_stats.refresh(engine), "a small table needs none"
        async with engine.begin() as conn:
            await conn.execute(insert(TrackRow), _rows(0, 3000))
        assert await planner_stats.refresh(engine)
        assert not await planner_stats.refresh(engine), "not doubled since"
        async with engine.connect() as conn:
            plan = " ".join(
                str(row[-1]) for row in await conn.execute(text(PAGE), {"d": f"did:plc:{7:024d}"})
            )
        assert "ix_tracks_artist_created" in plan
        async with engine.begin() as conn:
            await conn.execute(insert(TrackRow), _rows(3000, 3000))
        assert await planner_stats.refresh(engine)
    finally:
        await engine.dispose()


async def test_postgresql_keeps_its_own(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await ensure_migrated(engine, migrate=True)
        refreshed = await planner_stats.refresh(engine)
        assert refreshed is False or engine.dialect.name == "sqlite"
    finally:
        await engine.dispose()
