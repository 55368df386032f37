"""One filter, two readers: the SQL a query runs and the Python test live events get must pick
the same tracks — checked against real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.models import TrackRow
from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import FileType, PublishState
from tests.harness.catalog import EPOCH, catalog_row

ADA, BO = "did:plc:" + "a" * 24, "did:plc:" + "b" * 24


def catalog() -> list[TrackRow]:
    specs = [
        (ADA, "Blue Monday", "Ada", "First", FileType.MP3),
        (ADA, "Ünïcode 50% off_sale", "ADA", None, FileType.FLAC),
        (BO, "blue in green", "Bo", "first", FileType.OGG),
        (BO, "Quiet", "Bo Diddley", "Second", FileType.WAV),
        (BO, "Draft song", "Bo", None, FileType.MP3),
    ]
    rows = [
        catalog_row(
            did,
            f"3k{i:011d}",
            title=title,
            artist=artist,
            album=album,
            file_type=kind,
            created_at=EPOCH + timedelta(minutes=i),
        )
        for i, (did, title, artist, album, kind) in enumerate(specs)
    ]
    rows[-1].publish_state = PublishState.DRAFT.value
    return rows


FILTERS = [
    TrackFilter(),
    TrackFilter(artist_did=ADA),
    TrackFilter(artist="ada"),
    TrackFilter(artist="  BO "),
    TrackFilter(artist="   "),
    TrackFilter(album="FIRST"),
    TrackFilter(album=""),
    TrackFilter(file_type=FileType.MP3),
    TrackFilter(search="blue"),
    TrackFilter(search="50%"),
    TrackFilter(search="off_"),
    TrackFilter(search="ÜNÏ"),
    TrackFilter(search="bo d"),
    TrackFilter(search="nothing"),
    TrackFilter(published=True),
    TrackFilter(published=False),
    TrackFilter(artist_did=BO, search="blue", published=True),
    TrackFilter(viewer_did=BO),
    TrackFilter(viewer_did=BO, published=False),
    TrackFilter(viewer_did=ADA, published=False),
    TrackFilter(viewer_did=ADA, search="draft"),
]


Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    """A migrated database holding ``catalog()``."""
    engine = create_engine(database_url)
    try:
        await ensure_migrated(engine, migrate=True)
        factory = session_factory(engine)
        index = TrackIndex(factory)
        for row in catalog():
            await index.insert(row)
        yield factory
    finally:
        await engine.dispose()


@pytest.mark.parametrize("flt", FILTERS, ids=repr)
async def test_sql_and_python_pick_the_same_tracks(sessions: Sessions, flt: TrackFilter) -> None:
    async with sessions() as db:
        rows = list((await db.execute(select(TrackRow))).scalars())
        by_sql = set((await db.execute(select(TrackRow.uri).where(*flt.clauses()))).scalars())
    by_python = {row.uri for row in rows if flt.matches(row)}
    assert by_sql == by_python


async def test_hidden_accounts_never_match_in_sql(sessions: Sessions) -> None:
    async with sessions() as db, db.begin():
        for row in (await db.execute(select(TrackRow))).scalars():
            row.hidden = row.artist_did == ADA
    async with sessions() as db:
        found = set(
            (
                await db.execute(select(TrackRow.artist_did).where(*TrackFilter().clauses()))
            ).scalars()
        )
    assert found == {BO}
