"""The cover a published track's edit replaces stays counted while the track's PDS decides on
the new record (``tracks.replaced_image_file_id``): the collector cannot take it from under a
refused edit; once the new record is written — by the edit, by the worker finishing it after a
crash, or seen on the network — it is uncounted; a delete uncounts all of a track's objects. On
real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.audio_refs import AudioRefs
from relay.db.models import AudioObjectRow, TrackRow
from relay.db.sync import RecordDelete, SyncStore
from relay.db.tracks import Lease, TrackIndex
from relay.domain import PublishState
from tests.harness.catalog import EPOCH, catalog_row
from tests.unit.test_sync_store import DID, RKEY, upsert

OLD, NEW = "old-cover.jpg", "new-cover.jpg"


async def counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as db:
        found = (await db.execute(select(AudioObjectRow.file_id, AudioObjectRow.refs))).all()
    return {str(key): int(refs) for key, refs in found}


async def editing(
    sessions: async_sessionmaker[AsyncSession], lease: Lease
) -> tuple[TrackIndex, TrackRow]:
    """A published track showing ``OLD``, in the middle of an edit to ``NEW`` under ``lease``:
    what ``TrackEdits`` writes before it asks the PDS."""
    refs, index = AudioRefs(sessions), TrackIndex(sessions)
    assert await refs.intend(OLD, EPOCH) and await refs.intend(NEW, EPOCH)
    shown = catalog_row(DID, RKEY, title="T", artist="Cy", created_at=EPOCH, cid="c1")
    shown.image_file_id = OLD
    row = await index.insert(shown)
    assert await index.claim(row.id, lease)
    pending = await index.release(
        row.id, lease, keep=True, publish_state=PublishState.PUBLISHING,
        next_publish_at=lease.until, image_file_id=NEW, replaced_image_file_id=OLD,
    )  # fmt: skip
    assert pending is not None
    assert await counts(sessions) == {OLD: 1, NEW: 1}, "both counted while the PDS decides"
    return index, pending


@pytest.mark.parametrize("accepted", [True, False])
async def test_the_pds_answer_uncounts_the_cover_no_record_shows(
    sessions: async_sessionmaker[AsyncSession], accepted: bool
) -> None:
    lease = Lease(token="edit", now=EPOCH, until=EPOCH + timedelta(minutes=2))
    index, row = await editing(sessions, lease)
    # Refused: the old cover is shown again.
    back: dict[str, Any] = {} if accepted else {"image_file_id": OLD}
    done = await index.release(
        row.id, lease, publish_state=PublishState.PUBLISHED, next_publish_at=None,
        replaced_image_file_id=None, **back,
    )  # fmt: skip
    assert done is not None and done.replaced_image_file_id is None
    assert await counts(sessions) == ({OLD: 0, NEW: 1} if accepted else {OLD: 1, NEW: 0})


@pytest.mark.parametrize("lease_alive", [False, True])
async def test_a_newer_record_from_the_network_uncounts_a_dead_edits_old_cover(
    sessions: async_sessionmaker[AsyncSession], lease_alive: bool
) -> None:
    # The edit's process died after its PDS took the record; the firehose brings that record.
    until = EPOCH + (timedelta(hours=2) if lease_alive else timedelta(seconds=1))
    index, row = await editing(sessions, Lease(token="edit", now=EPOCH, until=until))
    later = EPOCH + timedelta(hours=1)
    await SyncStore(sessions).apply([upsert("Edited", "3kzzzzzzzzzz2")], now=later)
    current = await index.get(row.id)
    assert current is not None and current.publish_state == PublishState.PUBLISHED
    if lease_alive:  # the edit is still waiting for its PDS: it uncounts what it replaced
        assert current.replaced_image_file_id == OLD
        assert await counts(sessions) == {OLD: 1, NEW: 1}
    else:
        assert current.replaced_image_file_id is None
        assert await counts(sessions) == {OLD: 0, NEW: 1}


@pytest.mark.parametrize("by", ["relay", "firehose"])
async def test_a_delete_in_the_middle_of_an_edit_uncounts_both_covers(
    sessions: async_sessionmaker[AsyncSession], by: str
) -> None:
    lease = Lease(token="edit", now=EPOCH, until=EPOCH + timedelta(minutes=2))
    index, row = await editing(sessions, lease)
    if by == "relay":
        assert await index.delete(row.id, lease)
    else:
        assert len(await SyncStore(sessions).apply([RecordDelete(row.uri)], now=EPOCH)) == 1
    assert await index.get(row.id) is None
    assert await counts(sessions) == {OLD: 0, NEW: 0}
