"""A page by relevance on PostgreSQL reads only its own rows of ``tracks``: the hits are ranked,
ordered and cut to the page before they are joined to the tracks shown. Joined first, the
planner hashed every track (a sequential scan of the table) to find the 2,000 ranked hits —
most of a common word's p95 in bench/search."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert

from relay.atproto.records import TrackRecord
from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.models import TrackRow
from relay.db.track_filter import TrackFilter
from relay.db.track_mapper import new_track
from relay.db.tracks import TrackIndex
from relay.domain import FileType, PageRequest, PublishState, TrackOrder, TrackOrderField
from tests.harness.catalog import EPOCH
from tests.harness.postgres import scratch_database

TRACKS, BLUE = 4000, 2500  # every track; those with "blue" in the title


def _rows() -> list[dict[str, Any]]:
    rows = []
    for i in range(TRACKS):
        title = f"Blue Song {i}" if i < BLUE else f"Green Song {i}"
        album = "Blue Album" if i % 3 == 0 else None
        record = TrackRecord(
            title=title, artist=f"Artist {i % 50}", album=album,
            audio_url="https://cdn.example/a.mp3", file_type=FileType.MP3,
            duration=None, created_at="2026-01-01T00:00:00.000Z",
        )  # fmt: skip
        track = new_track(
            did=f"did:plc:{i % 50:024d}", rkey=f"3k{i:011d}", record=record,
            created_at=EPOCH + timedelta(seconds=i), indexed_at=EPOCH, handle=None,
            publish_state=PublishState.PUBLISHED,
        )  # fmt: skip
        rows.append(track.columns())
    return rows


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "tracks" else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_a_relevance_page_joins_only_its_rows_to_tracks() -> None:
    async with scratch_database() as url:
        engine = create_engine(url)
        try:
            await ensure_migrated(engine, migrate=True)
            async with engine.begin() as conn:
                await conn.execute(insert(TrackRow), _rows())
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("VACUUM ANALYZE tracks")
            sent: list[tuple[str, Any]] = []

            def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
                sent.append((statement, params))

            event.listen(engine.sync_engine, "before_cursor_execute", keep)
            index = TrackIndex(session_factory(engine))
            order = TrackOrder(TrackOrderField.RELEVANCE)
            page = await index.page(TrackFilter(search="blue"), order, PageRequest(first=20))
            event.remove(engine.sync_engine, "before_cursor_execute", keep)
            # Title matches rank first, and among equals the newest first.
            assert [r.title for r in page.rows] == [f"Blue Song {i}" for i in range(2499, 2479, -1)]
            statement, params = sent[-1]
            async with engine.connect() as conn:
                result = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
                )
                (explained,) = result.scalar_one()
        finally:
            await engine.dispose()
    scans = _scans(explained["Plan"])
    # The ranked hits read the index of ids and words (alias tracks_1); the page's own join
    # (alias tracks) reads one row for each of the page's 21 (20 and one to tell a next page).
    shown = [scan for scan in scans if scan["Alias"] == "tracks"]
    assert shown, explained
    read = sum(scan["Actual Rows"] * scan["Actual Loops"] for scan in shown)
    assert read <= 21, explained
    assert all(scan["Node Type"] != "Seq Scan" for scan in shown), explained
