"""One filter, two readers: the SQL a query runs and the Python test live events get must pick
the same tracks — checked against real SQLite and PostgreSQL."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.full_text import COMMON, full_text_for
from relay.db.models import StoredTrackColumns, TrackRow
from relay.db.text_search import MAX_FIELD_WORDS, MAX_WORD_CHARS, search_text, words
from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import (
    FileType,
    PageRequest,
    PublishState,
    TrackOrder,
    TrackOrderField,
)
from relay.errors import BadUserInputError
from tests.harness.catalog import EPOCH, catalog_row

ADA, BO = "did:plc:" + "a" * 24, "did:plc:" + "b" * 24


def catalog() -> list[TrackRow]:
    specs = [
        (ADA, "Blue Monday", "Ada", "First", FileType.MP3),
        (ADA, "Ünïcode 50% off_sale", "ADA", None, FileType.FLAC),
        (BO, "blue in green", "Bo", "first", FileType.OGG),
        (BO, "Quiet", "Bo Diddley", "Second", FileType.WAV),
        (ADA, "Straße Café", "Zoë & the 1990s", "Blue-Green", FileType.OGG),
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
    TrackFilter(search="blue mon"),
    TrackFilter(search="MONDAY blue"),
    TrackFilter(search="onday"),
    TrackFilter(search="strasse cafe"),
    TrackFilter(search="zoe 199"),
    TrackFilter(search="green"),
    TrackFilter(search="  ,;&  "),
    TrackFilter(search="b"),
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


def _index(sessions: Sessions, common: int) -> TrackIndex:
    """The index, with searches that find more than ``common`` tracks run as common ones (the
    other plan: walking the ordering, testing each track's words)."""
    dialect = sessions.kw["bind"].dialect.name
    return TrackIndex(sessions, full_text=full_text_for(dialect, common=common))


@pytest.mark.parametrize("common", [0, COMMON], ids=["common", "rare"])
@pytest.mark.parametrize("flt", FILTERS, ids=repr)
async def test_sql_and_python_pick_the_same_tracks(
    sessions: Sessions, flt: TrackFilter, common: int
) -> None:
    async with sessions() as db:
        rows = list((await db.execute(select(TrackRow))).scalars())
    page = await _index(sessions, common).page(flt, TrackOrder(), PageRequest(first=100))
    by_sql = {row.uri for row in page.rows}
    by_python = {row.uri for row in rows if flt.matches(row)}
    assert by_sql == by_python
    assert await _index(sessions, common).count(flt) == len(by_python)


async def test_hidden_accounts_never_match_in_sql(sessions: Sessions) -> None:
    async with sessions() as db, db.begin():
        for row in (await db.execute(select(TrackRow))).scalars():
            row.hidden = row.artist_did == ADA
    async with sessions() as db:
        found = set(
            (
                await db.execute(select(TrackRow.artist_did).where(*TrackFilter().row_clauses()))
            ).scalars()
        )
    assert found == {BO}


def _titles(rows: list[StoredTrackColumns]) -> list[str]:
    return [row.title for row in rows]


@pytest.mark.parametrize(
    ("search", "titles"),
    [
        ("blue mon", {"Blue Monday"}),
        ("blue", {"Blue Monday", "blue in green", "Straße Café"}),  # an album word too
        ("onday", set()),  # words are found by their start, not their middle
        ("strasse cafe", {"Straße Café"}),
        ("ZOË 1990", {"Straße Café"}),
        ("50%", {"Ünïcode 50% off_sale"}),
        ("off sale", {"Ünïcode 50% off_sale"}),
        ("  ,;&  ", set()),  # no words: nothing is found
    ],
)
@pytest.mark.parametrize("common", [0, COMMON], ids=["common", "rare"])
async def test_search_finds_words_by_their_start(
    sessions: Sessions, search: str, titles: set[str], common: int
) -> None:
    page = await _index(sessions, common).page(
        TrackFilter(search=search), TrackOrder(), PageRequest(first=50)
    )
    assert set(_titles(list(page.rows))) == titles


@pytest.mark.parametrize("common", [0, COMMON], ids=["common", "rare"])
async def test_relevance_puts_title_matches_first_and_pages_once(
    sessions: Sessions, common: int
) -> None:
    index = _index(sessions, common)
    order = TrackOrder(field=TrackOrderField.RELEVANCE)
    flt = TrackFilter(search="blue")
    first = await index.page(flt, order, PageRequest(first=2))
    assert _titles(list(first.rows))[1:] != ["Straße Café"]
    assert "Straße Café" not in _titles(list(first.rows)), "an album match ranks below titles"
    rest = await index.page(flt, order, PageRequest(first=5, after=first.cursors[-1]))
    assert _titles(list(rest.rows)) == ["Straße Café"]
    assert await rest.has_previous_page() and not await rest.has_next_page()
    back = await index.page(flt, order, PageRequest(last=5, before=rest.cursors[0]))
    assert _titles(list(back.rows)) == _titles(list(first.rows))
    with pytest.raises(BadUserInputError, match="RELEVANCE needs a search"):
        await index.page(TrackFilter(), order, PageRequest(first=2))


async def test_the_search_index_follows_edits_and_deletes(sessions: Sessions) -> None:
    index = TrackIndex(sessions)

    async def found(search: str) -> list[str]:
        page = await index.page(TrackFilter(search=search), TrackOrder(), PageRequest(first=50))
        return _titles(list(page.rows))

    quiet = next(row for row in catalog() if row.title == "Quiet")
    async with sessions() as db:
        row_id = (await db.execute(select(TrackRow.id).where(TrackRow.uri == quiet.uri))).scalar()
    assert row_id is not None and await found("quiet") == ["Quiet"]
    await index.update(row_id, title="Loud Again")
    assert await found("quiet") == []
    assert await found("loud ag") == ["Loud Again"]
    assert await found("diddley") == ["Loud Again"]
    async with sessions() as db, db.begin():
        await db.execute(delete(TrackRow).where(TrackRow.id == row_id))
    assert await found("loud") == []
    assert await found("diddley") == []
    assert await index.count(TrackFilter(search="blue")) == 3


async def test_too_many_words_are_refused(sessions: Sessions) -> None:
    with pytest.raises(BadUserInputError, match="at most 16 words"):
        await TrackIndex(sessions).count(TrackFilter(search=" ".join(f"w{i}" for i in range(17))))


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ascii_text_is_cut_into_the_same_words_as_any_text(text: str) -> None:
    # words() takes a shortcut for ASCII; it must agree with the general Unicode path.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    general = [word[:MAX_WORD_CHARS] for word in re.findall(r"[^\W_]+", bare)]
    assert words(text) == general
    assert words("Ünïcode Straße_x") == ["unicode", "strasse", "x"]


async def test_a_field_is_found_by_its_first_words_and_the_longest_track_fits(
    sessions: Sessions,
) -> None:
    """Each of title, artist and album is searchable by its first 24 words (256 bytes): what a
    track adds to the indexes is bounded — on PostgreSQL a B-tree entry carries the words, and an
    entry over its size limit would refuse the track. The largest record the lexicon allows (280
    one-letter words in each field, every one different) is indexed and found."""
    many = " ".join(f"w{i}" for i in range(40))
    # 280 one-letter words in each field, none repeated: CJK letters in an order that defeats
    # compression (what an entry too large for PostgreSQL's B-tree would be made of).
    widest = [" ".join(chr(0x4E00 + (i * 7919 + f * 4111) % 20000) for i in range(280))
              for f in range(3)]  # fmt: skip
    index = TrackIndex(sessions)
    await index.insert(
        catalog_row(ADA, "3kmany0000001", title=many, artist="Ada", created_at=EPOCH)
    )
    await index.insert(
        catalog_row(BO, "3kwidest00001", title=widest[0], artist=widest[1], album=widest[2],
                    created_at=EPOCH)
    )  # fmt: skip
    assert len(search_text(many, "Ada", None).split("\n")[0].split()) == MAX_FIELD_WORDS
    order = TrackOrder(TrackOrderField.RELEVANCE)
    first = widest[2].split()[0]
    for search, found in (("w23", True), ("w24", False), (first, True)):
        for ranked in (TrackOrder(), order):
            page = await index.page(TrackFilter(search=search), ranked, PageRequest(first=5))
            assert bool(page.rows) is found, (search, ranked)
