"""``SyncStore.apply`` when another writer (a backfill, another process) inserts the same new
record at the same moment: the loser starts over and finds the winner's row — nothing is lost,
nothing raises — on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.records import LikeRecord, ListRecord, ProfileRecord, StrongRef, TrackRecord
from relay.db.like_rows import LikeUpsert
from relay.db.list_rows import ListUpsert
from relay.db.models import LikeRow, ProfileRow, SyncCursorRow, TrackRow
from relay.db.profile_rows import ProfileUpsert
from relay.db.sync import ChainLink, Cursor, HandleChanged, RecordDelete, SyncStore, TrackUpsert
from relay.db.tracks import Lease, TrackIndex
from relay.domain import FileType, TrackEventKind
from tests.harness.catalog import EPOCH, catalog_row

DID = "did:plc:" + "c" * 24
RKEY = "3kaaaaaaaaaa2"


def upsert(title: str, rev: str) -> TrackUpsert:
    record = TrackRecord(
        title=title,
        artist="Cy",
        album=None,
        audio_url="https://cdn.example/c.mp3",
        file_type=FileType.MP3,
        duration=None,
        created_at="2026-01-01T00:00:00.000Z",
    )
    return TrackUpsert(did=DID, rkey=RKEY, cid=f"cid-{rev}", rev=rev, record=record, handle=None)


async def rows(sessions: async_sessionmaker[AsyncSession]) -> list[TrackRow]:
    async with sessions() as db:
        return list((await db.execute(select(TrackRow))).scalars())


async def test_many_writers_of_one_new_record_all_succeed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stores = [SyncStore(sessions) for _ in range(8)]
    results = await asyncio.gather(
        *(
            store.apply([upsert("Same", "3kaaaaaaaaaa2")], now=EPOCH, cursor=Cursor("s", i, None))
            for i, store in enumerate(stores)
        )
    )
    created = [a for applied in results for a in applied if a.kind is TrackEventKind.CREATED]
    assert len(created) == 1, "exactly one writer created it; the others found it there"
    assert [row.title for row in await rows(sessions)] == ["Same"]
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(SyncCursorRow)) == 1


async def test_an_insert_committed_under_a_running_apply_is_found_on_retry(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: the interleaving needs PostgreSQL's row locks")
    # Another writer inserts the row and holds its transaction open: apply's lookup cannot see
    # it, its insert waits on the unique index, and fails once the other writer commits.
    other = sessions()
    await other.begin()
    other.add(catalog_row(DID, RKEY, title="First", artist="Cy", created_at=EPOCH, cid="c1"))
    await other.flush()
    applying = asyncio.create_task(
        SyncStore(sessions).apply([upsert("Newer", "3kzzzzzzzzzz2")], now=EPOCH)
    )
    await asyncio.sleep(0.5)
    assert not applying.done(), "apply waits on the other writer's uncommitted row"
    await other.commit()
    await other.close()
    applied = await asyncio.wait_for(applying, timeout=10)
    assert [a.kind for a in applied] == [TrackEventKind.UPDATED]
    assert [(row.title, row.rev) for row in await rows(sessions)] == [("Newer", "3kzzzzzzzzzz2")]


async def test_relays_delete_and_the_firehoses_delete_meet_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Relay's own delete (under its lease) and the firehose's delete of the same record, in
    either order: the row goes once, the second finds it gone, no error and no second event."""
    index, store = TrackIndex(sessions), SyncStore(sessions)
    lease = Lease(token="t", now=EPOCH, until=EPOCH + timedelta(minutes=2))
    for first in ("firehose", "relay"):
        row = await index.insert(catalog_row(DID, RKEY, title="T", artist="Cy", created_at=EPOCH))
        assert await index.claim(row.id, lease)
        if first == "firehose":
            assert len(await store.apply([RecordDelete(row.uri)], now=EPOCH)) == 1
            assert await index.delete(row.id, lease), "gone already counts as deleted"
        else:
            assert await index.delete(row.id, lease)
            assert await store.apply([RecordDelete(row.uri)], now=EPOCH) == []
        assert await rows(sessions) == []


async def test_a_delete_without_the_lease_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    index = TrackIndex(sessions)
    row = await index.insert(catalog_row(DID, RKEY, title="T", artist="Cy", created_at=EPOCH))
    held = Lease(token="held", now=EPOCH, until=EPOCH + timedelta(minutes=2))
    assert await index.claim(row.id, held)
    other = Lease(token="other", now=EPOCH, until=EPOCH + timedelta(minutes=2))
    assert not await index.delete(row.id, other)
    assert [r.uri for r in await rows(sessions)] == [row.uri]


async def test_a_repos_last_verified_commit_is_kept_with_the_cursor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The chain link of a batch goes in with its cursor; a later rev replaces it, an earlier one
    (a replay) does not; two stores racing to add the first link both succeed."""
    store = SyncStore(sessions)
    assert await store.chain_link(DID) is None
    cursor = Cursor("wss://host.example", 7, None)
    first = [ChainLink(DID, "3kaaaaaaaaab2", b"\x01a")]
    await asyncio.gather(
        store.apply([], now=EPOCH, cursor=cursor, links=first),
        SyncStore(sessions).apply([], now=EPOCH, links=first),
    )
    newer = ChainLink(DID, "3kaaaaaaaaab4", b"\x01c")
    older = ChainLink(DID, "3kaaaaaaaaab3", b"\x01b")
    await store.apply([], now=EPOCH, links=[newer, older])
    assert await store.chain_link(DID) == newer
    await store.apply([], now=EPOCH, links=[ChainLink(DID, "3kaaaaaaaaab1", b"\x01z")])
    assert await store.chain_link(DID) == newer
    async with sessions() as db:
        assert (await db.get(SyncCursorRow, "wss://host.example")) is not None


async def test_an_identity_change_renames_and_moves_every_record_of_the_account(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A confirmed identity event: tracks, likes and lists show the new handle, and the profile's
    avatar is fetched from the PDS the account moved to."""
    store = SyncStore(sessions)
    ref = StrongRef(uri=f"at://{DID}/app.relay.track/{RKEY}", cid="cid-1")
    like = LikeRecord(subject=ref, created_at="2026-01-01T00:00:00.000Z")
    profile = ProfileRecord(display_name="Cy", description=None, avatar=None)
    await store.apply(
        [
            upsert("Mine", "3kaaaaaaaaaa3"),
            LikeUpsert(did=DID, rkey=RKEY, cid="cid-l", rev=None, record=like, handle="old.test"),
            ProfileUpsert(did=DID, rkey="self", cid="cid-p", rev=None, record=profile,
                          pds_url="https://old.example"),
        ],
        now=EPOCH,
    )  # fmt: skip
    await store.apply([HandleChanged(DID, "new.test", "https://new.example")], now=EPOCH)
    async with sessions() as db:
        assert {row.artist_handle for row in (await db.execute(select(TrackRow))).scalars()} == {
            "new.test"
        }
        assert (await db.scalar(select(LikeRow.liker_handle))) == "new.test"
        assert (await db.scalar(select(ProfileRow.pds_url))) == "https://new.example"


async def test_a_repos_uris_are_its_records_tracks_likes_lists_and_profile(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What a backfill compares a repo's listing with (what it no longer lists is removed): every
    record of that repo the index holds — not drafts, which are no records, nor others' records."""
    store, index = SyncStore(sessions), TrackIndex(sessions)
    other = "did:plc:" + "d" * 24
    track = upsert("Mine", "3kaaaaaaaaaa3")
    ref = StrongRef(uri=track.uri, cid="cid-t")
    like = LikeRecord(subject=ref, created_at="2026-01-01T00:00:00.000Z")
    listed = ListRecord(
        name="Set", list_type="playlist", items=(ref,), created_at="2026-01-01T00:00:00.000Z"
    )
    profile = ProfileRecord(display_name="Cy", description=None, avatar=None)
    lists = "app.relay.list"
    assert await store.uris_of(DID) == set()
    await store.apply(
        [
            track,
            LikeUpsert(did=DID, rkey="3kaaaaaaaaab2", cid="l", rev=None, record=like, handle=None),
            ListUpsert(did=DID, rkey="3kaaaaaaaaac2", cid="s", rev=None, record=listed),
            ProfileUpsert(did=DID, rkey="self", cid="p", rev=None, record=profile, pds_url=None),
            LikeUpsert(did=other, rkey="3kaaaaaaaaab2", cid="o", rev=None, record=like),
        ],
        now=EPOCH,
    )  # fmt: skip
    draft = catalog_row(DID, "3kaaaaaaaaad2", title="Draft", artist="Cy", created_at=EPOCH)
    draft.publish_state = "DRAFT"
    await index.insert(draft)
    assert await store.uris_of(DID) == {
        track.uri,
        f"at://{DID}/app.relay.like/3kaaaaaaaaab2",
        f"at://{DID}/{lists}/3kaaaaaaaaac2",
        f"at://{DID}/app.bsky.actor.profile/self",
    }
    assert await store.uris_of(other) == {f"at://{other}/app.relay.like/3kaaaaaaaaab2"}
