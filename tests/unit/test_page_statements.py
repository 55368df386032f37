"""A page's statement is built once for its shape (filters, order, size, a cursor or not) and run
with each page's own values: every filter, viewer and cursor of a shape still gets its own rows —
on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import (
    FileType,
    OrderDirection,
    PageRequest,
    PublishState,
    TrackOrder,
    TrackOrderField,
)
from tests.harness.catalog import EPOCH, catalog_row

ANN, BEN = "did:plc:" + "a" * 24, "did:plc:" + "b" * 24


async def test_one_shape_answers_each_filter_viewer_and_cursor_with_its_own_rows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    index = TrackIndex(sessions)
    for n in range(6):
        for did, name in ((ANN, "Ann"), (BEN, "Ben")):
            row = catalog_row(
                did, f"3k{name.lower()}aaaaaaa{n}", title=f"{name} {n}", artist=name,
                created_at=EPOCH + timedelta(minutes=n),
                file_type=FileType.MP3 if n % 2 else FileType.FLAC,
            )  # fmt: skip
            if n == 5:
                row.publish_state = PublishState.DRAFT.value  # seen by its owner only
            await index.insert(row)

    async def titles(flt: TrackFilter, after: str | None = None) -> tuple[list[str], str]:
        page = await index.page(flt, TrackOrder(), PageRequest(first=2, after=after))
        return [row.title for row in page.rows], page.cursors[-1]

    for did, name in ((ANN, "Ann"), (BEN, "Ben"), (ANN, "Ann")):  # the same shape, each time
        first, cursor = await titles(TrackFilter(artist_did=did))
        assert first == [f"{name} 4", f"{name} 3"]
        assert (await titles(TrackFilter(artist_did=did), cursor))[0] == [f"{name} 2", f"{name} 1"]
    # A viewer sees their own draft, and only theirs, through one statement.
    assert (await titles(TrackFilter(artist_did=ANN, viewer_did=ANN)))[0] == ["Ann 5", "Ann 4"]
    assert (await titles(TrackFilter(artist_did=ANN, viewer_did=BEN)))[0] == ["Ann 4", "Ann 3"]
    assert (await titles(TrackFilter(artist_did=BEN, viewer_did=BEN)))[0] == ["Ben 5", "Ben 4"]
    # Other values of other filters.
    mp3 = await titles(TrackFilter(artist="ann", file_type=FileType.MP3))
    flac = await titles(TrackFilter(artist="BEN", file_type=FileType.FLAC))
    assert (mp3[0], flac[0]) == (["Ann 3", "Ann 1"], ["Ben 4", "Ben 2"])
    # Pages back, in another order, keep to their own cursor.
    by_title = TrackOrder(field=TrackOrderField.TITLE, direction=OrderDirection.ASC)
    for did, name in ((ANN, "Ann"), (BEN, "Ben")):
        page = await index.page(TrackFilter(artist_did=did), by_title, PageRequest(first=3))
        back = await index.page(
            TrackFilter(artist_did=did), by_title, PageRequest(last=1, before=page.cursors[-1])
        )
        assert [row.title for row in back.rows] == [f"{name} 1"]
        assert await back.has_previous_page() and await page.has_next_page()
