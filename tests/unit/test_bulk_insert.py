"""``BulkInsert`` stores exactly what SQLAlchemy's Core insert stores — on real SQLite and
PostgreSQL, with the index's triggers (full text, index versions) — in chunks within the drivers'
parameter bounds, and a row another writer inserted first is SQLAlchemy's ``IntegrityError``
(what ``SyncStore.apply`` retries on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.records import TrackRecord
from relay.db import bulk_insert
from relay.db.bulk_insert import BulkInsert
from relay.db.models import TrackRow
from relay.db.text_search import SearchQuery
from relay.db.track_mapper import NEW_TRACK_COLUMNS, NewTrack, new_track
from relay.domain import FileType, PublishState

TRACKS: Table = TrackRow.__table__  # type: ignore[assignment]
DID = "did:plc:" + "a" * 24
CREATED = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))


def row(n: int, *, did: str = DID, album: str | None = None) -> NewTrack:
    record = TrackRecord(
        title=f"Night Song {n}", artist="Élodie", album=album,
        audio_url=f"https://cdn{n % 3}.example/{n}.mp3", file_type=FileType.MP3,
        duration=n if n % 2 else None, created_at="2026-03-04T03:06:07.890Z",
    )  # fmt: skip
    new = new_track(
        did=did, rkey=f"3kaaaaaaa{n:04d}", record=record, created_at=CREATED + timedelta(seconds=n),
        indexed_at=datetime(2026, 12, 7, tzinfo=UTC), handle=None if n % 4 else "a.test",
        publish_state=PublishState.PUBLISHED, cid=f"bafyrei{n:08d}", rev="3kzzzzzzzzzz2",
    )  # fmt: skip
    new.hidden = n % 5 == 0  # a boolean as both drivers take it
    return new


async def stored(db: AsyncSession, did: str) -> list[dict[str, Any]]:
    columns = [TRACKS.c[name] for name in NEW_TRACK_COLUMNS]
    result = await db.execute(select(*columns).where(TRACKS.c.artist_did == did).order_by("rkey"))
    return [dict(r._mapping) for r in result]


async def test_rows_are_stored_as_core_stores_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    other = "did:plc:" + "c" * 24
    bulk = [row(n) for n in range(7)]
    core = [row(n, did=other) for n in range(7)]
    async with sessions() as db, db.begin():
        await BulkInsert(TRACKS, NEW_TRACK_COLUMNS).run(db, [r.values() for r in bulk])
        await db.execute(TRACKS.insert(), [r.columns() for r in core])
    async with sessions() as db:
        by_bulk, by_core = await stored(db, DID), await stored(db, other)
        # The raw values too: an ordering or comparison on the text SQLite keeps would differ.
        raw = text("SELECT created_at, indexed_at, hidden FROM tracks WHERE artist_did = :d")
        raw_bulk = (await db.execute(raw, {"d": DID})).all()
        raw_core = (await db.execute(raw, {"d": other})).all()
        hits = await db.execute(
            select(func.count()).select_from(TRACKS).where(TRACKS.c.artist_did == DID)
        )
    assert len(by_bulk) == 7 and hits.scalar() == 7
    for mine, theirs in zip(by_bulk, by_core, strict=True):
        assert {k: v for k, v in mine.items() if k not in ("uri", "artist_did")} == {
            k: v for k, v in theirs.items() if k not in ("uri", "artist_did")
        }
    assert by_bulk[1]["created_at"] == CREATED + timedelta(seconds=1)
    assert by_bulk[1]["created_at"].tzinfo is not None
    assert sorted(map(tuple, raw_bulk)) == sorted(map(tuple, raw_core))


async def test_the_triggers_see_every_row_and_chunks_stay_within_the_bounds(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small bounds, so that 23 rows take several statements and a shorter last one.
    monkeypatch.setattr(bulk_insert, "_MAX_ROWS", 5)
    async with sessions() as db:
        version = (await db.execute(text("SELECT version FROM index_state"))).scalar()
    async with sessions() as db, db.begin():
        await BulkInsert(TRACKS, NEW_TRACK_COLUMNS).run(db, [row(n).values() for n in range(23)])
    async with sessions() as db:
        assert len(await stored(db, DID)) == 23
        moved = (await db.execute(text("SELECT version FROM index_state"))).scalar()
        artist = await db.execute(
            text("SELECT version FROM artist_versions WHERE artist_did = :d"), {"d": DID}
        )
        assert moved is not None and version is not None and moved > version
        assert artist.scalar() == moved
        query = SearchQuery.parse("night 17")
        assert query is not None
        if db.get_bind().dialect.name == "sqlite":
            found = text("SELECT count(*) FROM tracks_fts WHERE tracks_fts MATCH :q")
            assert (await db.execute(found, {"q": query.fts5()})).scalar() == 1
        else:
            found = text("SELECT count(*) FROM tracks WHERE search_vector @@ to_tsquery(:q)")
            assert (await db.execute(found, {"q": query.tsquery()})).scalar() == 1


async def test_a_row_inserted_first_by_another_writer_is_an_integrity_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    inserter = BulkInsert(TRACKS, NEW_TRACK_COLUMNS)
    async with sessions() as db, db.begin():
        await inserter.run(db, [row(1).values()])
    with pytest.raises(IntegrityError):
        async with sessions() as db, db.begin():
            await inserter.run(db, [row(2).values(), row(1).values()])
    async with sessions() as db:
        assert [r["rkey"] for r in await stored(db, DID)] == ["3kaaaaaaa0001"]  # none of it


def test_columns_the_table_lacks_are_refused() -> None:
    with pytest.raises(ValueError, match="no columns"):
        BulkInsert(TRACKS, ("uri", "colour"))
