"""Tombstones: a track, like or list deleted at a known revision is not indexed again by an older
copy that arrives later (a late firehose echo, a listing read before the delete) — on real SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.records import LikeRecord, ProfileRecord, StrongRef
from relay.db.like_rows import LikeUpsert
from relay.db.models import LikeRow, ProfileRow, TombstoneRow, TrackRow
from relay.db.profile_rows import ProfileUpsert
from relay.db.sync import RecordDelete, SyncStore
from relay.db.tombstones import TOMBSTONE_DAYS
from tests.harness.catalog import EPOCH
from tests.unit.test_sync_store import DID, RKEY, upsert

URI = f"at://{DID}/app.relay.track/{RKEY}"
PROFILE_URI = f"at://{DID}/app.bsky.actor.profile/self"
OLDER, DELETED, NEWER = "3kaaaaaaaaab2", "3kaaaaaaaaac2", "3kaaaaaaaaad2"


async def titles(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as db:
        return list((await db.execute(select(TrackRow.title))).scalars())


async def tombstones(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with sessions() as db:
        result = await db.execute(select(TombstoneRow.uri, TombstoneRow.rev))
        return dict(result.all())


async def test_an_older_copy_of_a_deleted_track_is_not_indexed_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SyncStore(sessions)
    await store.apply([upsert("One", OLDER)], now=EPOCH)
    await store.apply([RecordDelete(URI, rev=DELETED)], now=EPOCH)
    assert await tombstones(sessions) == {URI: DELETED}
    # The late echo of an edit made before the delete, and a listing with no revision: both out.
    assert await store.apply([upsert("Two", OLDER)], now=EPOCH) == []
    no_rev = upsert("Listed", OLDER)
    object.__setattr__(no_rev, "rev", None)
    assert await store.apply([no_rev], now=EPOCH) == []
    assert await store.apply([upsert("Same", DELETED)], now=EPOCH) == []
    assert await titles(sessions) == []
    # Made again after the delete (a newer revision): indexed, and its tombstone goes.
    await store.apply([upsert("Again", NEWER)], now=EPOCH)
    assert await titles(sessions) == ["Again"]
    assert await tombstones(sessions) == {}


async def test_within_one_batch_the_order_of_changes_holds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SyncStore(sessions)
    # Created and deleted in one batch: gone, and buried.
    await store.apply([upsert("One", OLDER), RecordDelete(URI, rev=DELETED)], now=EPOCH)
    assert await titles(sessions) == []
    # Deleted, then made again, in one batch: there.
    await store.apply([RecordDelete(URI, rev=DELETED), upsert("Back", NEWER)], now=EPOCH)
    assert await titles(sessions) == ["Back"]


async def test_the_newest_delete_is_kept_and_old_tombstones_go(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SyncStore(sessions)
    await store.apply([RecordDelete(URI, rev=DELETED)], now=EPOCH)
    await store.apply([RecordDelete(URI, rev=OLDER)], now=EPOCH)  # two deleters, out of order
    assert await tombstones(sessions) == {URI: DELETED}
    # A delete with no known revision leaves none; nor does a profile's (its key is reused).
    other = URI.replace(RKEY, "3kaaaaaaaaaz2")
    await store.apply([RecordDelete(other)], now=EPOCH)
    await store.apply([RecordDelete(PROFILE_URI, rev=NEWER)], now=EPOCH)
    assert await tombstones(sessions) == {URI: DELETED}
    # Any later delete sweeps tombstones older than TOMBSTONE_DAYS.
    later = EPOCH + timedelta(days=TOMBSTONE_DAYS, seconds=1)
    await store.apply([RecordDelete(other, rev=NEWER)], now=later)
    assert await tombstones(sessions) == {other: NEWER}


async def test_likes_are_buried_and_profiles_are_not(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = SyncStore(sessions)
    like = LikeRecord(
        subject=StrongRef(uri=URI, cid="cid-t"), created_at="2026-01-01T00:00:00.000Z"
    )
    like_uri = f"at://{DID}/app.relay.like/{RKEY}"
    await store.apply([RecordDelete(like_uri, rev=DELETED)], now=EPOCH)
    late = LikeUpsert(did=DID, rkey=RKEY, cid="cid-l", rev=OLDER, record=like, handle=None)
    await store.apply([late], now=EPOCH)
    profile = ProfileRecord(display_name="Cy", description=None, avatar=None)
    await store.apply([RecordDelete(PROFILE_URI, rev=DELETED)], now=EPOCH)
    made_again = ProfileUpsert(
        did=DID, rkey="self", cid="cid-p", rev=None, record=profile, pds_url="https://p.example"
    )
    await store.apply([made_again], now=EPOCH)
    async with sessions() as db:
        assert (await db.execute(select(LikeRow))).first() is None
        assert (await db.execute(select(ProfileRow.display_name))).scalars().all() == ["Cy"]
