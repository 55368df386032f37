"""``SyncStore``: what backfill and the firehose write — record changes (tracks, likes, lists)
and cursors, atomically."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import Table, bindparam, delete, func, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.atproto.records import PROFILE_NSID, TRACK_NSID, AtUri, TrackRecord
from relay.db.audio_refs import drop_ref, owned_objects
from relay.db.bulk_insert import BulkInsert
from relay.db.like_rows import (
    LikeApplied,
    LikeUpsert,
    delete_like,
    hide_liker,
    is_like_uri,
    newer_rev,
    remove_liker,
    rename_liker,
    upsert_likes,
)
from relay.db.list_rows import (
    ListApplied,
    ListUpsert,
    delete_list,
    hide_owner,
    is_list_uri,
    remove_owner,
    rename_owner,
    upsert_lists,
)
from relay.db.models import (
    BackfillRepoRow,
    LikeRow,
    ListRow,
    ProfileRow,
    RepoChainRow,
    SyncCursorRow,
    TrackRow,
)
from relay.db.profile_rows import (
    ProfileApplied,
    ProfileUpsert,
    delete_profile,
    is_profile_uri,
    moved_pds,
    upsert_profiles,
)
from relay.db.tombstones import bury, unburied
from relay.db.track_mapper import NEW_TRACK_COLUMNS, NewTrack, new_track, record_columns
from relay.domain import PublishState, TrackEventKind


@dataclass(frozen=True)
class TrackUpsert:
    """A checked record to index at ``at://did/app.relay.track/rkey``."""

    did: str
    rkey: str
    cid: str
    rev: str | None
    record: TrackRecord
    handle: str | None

    @cached_property
    def uri(self) -> str:
        return str(AtUri(self.did, TRACK_NSID, self.rkey))


@dataclass(frozen=True)
class RecordDelete:
    """A record deleted; ``rev``, the revision of the commit that deleted it, when known (then an
    older copy that arrives later is not indexed again: ``db.tombstones``)."""

    uri: str
    rev: str | None = None


@dataclass(frozen=True)
class AccountHidden:
    did: str
    hidden: bool


@dataclass(frozen=True)
class AccountRemoved:
    did: str


@dataclass(frozen=True)
class HandleChanged:
    """An identity event, confirmed: the account's handle (and PDS) as its DID document says."""

    did: str
    handle: str | None
    pds_url: str | None = None


OtherChange = RecordDelete | AccountHidden | AccountRemoved | HandleChanged
Upsert = TrackUpsert | LikeUpsert | ListUpsert | ProfileUpsert
Change = Upsert | OtherChange


@dataclass(frozen=True)
class Applied:
    """One change that took effect, for subscribers: ``created``, ``updated`` or ``deleted``."""

    kind: TrackEventKind
    row: TrackRow | NewTrack  # a new row as the values inserted


# A track's change, a like's, a list's or a profile's.
AnyApplied = Applied | LikeApplied | ListApplied | ProfileApplied


@dataclass
class _Pending:
    """Upserts waiting to be written, by collection."""

    tracks: list[TrackUpsert] = field(default_factory=list)
    likes: list[LikeUpsert] = field(default_factory=list)
    lists: list[ListUpsert] = field(default_factory=list)
    profiles: list[ProfileUpsert] = field(default_factory=list)

    def add(self, change: Upsert) -> None:
        if isinstance(change, TrackUpsert):
            self.tracks.append(change)
        elif isinstance(change, LikeUpsert):
            self.likes.append(change)
        elif isinstance(change, ListUpsert):
            self.lists.append(change)
        else:
            self.profiles.append(change)


def removed_tracks(applied: Sequence[AnyApplied]) -> list[TrackRow]:
    """The indexed tracks these changes deleted (for the collector of relay-owned objects)."""
    return [
        a.row
        for a in applied
        if isinstance(a, Applied)
        and a.kind is TrackEventKind.DELETED
        and isinstance(a.row, TrackRow)
    ]


@dataclass(frozen=True)
class Cursor:
    source: str
    seq: int
    event_time: datetime | None


@dataclass(frozen=True)
class ChainLink:
    """The last verified commit of a repo: its signed ``rev`` and tree root (binary CID)."""

    did: str
    rev: str
    data: bytes


# How often ``apply`` starts over when a concurrent writer inserted the same row first.
_CONFLICT_ATTEMPTS = 3
_TRACKS: Table = TrackRow.__table__  # type: ignore[assignment]
# Which of a batch's URIs are indexed. One expanding parameter: building ``in_(list)`` coerced
# each of a page's 500 values anew (~1 ms a batch).
_EXISTING = select(_TRACKS.c.uri).where(_TRACKS.c.uri.in_(bindparam("uris", expanding=True)))


def _unpinned(row: TrackRow, now: datetime) -> str | None:
    """The cover an edit replaced, no longer shown: ``row`` was indexed from a newer record while
    no edit holds its lease (a live one's holder uncounts it when its PDS answers)."""
    published = row.publish_state == PublishState.PUBLISHED.value
    unleased = row.lease_until is None or row.lease_until <= now
    return row.replaced_image_file_id if published and unleased else None


# A repo's indexed records that exist as records (not drafts): tracks, likes, lists, and whether
# it has a profile (whose one record is ``self``).
_URIS_OF = union_all(
    select(TrackRow.uri, literal(False)).where(
        TrackRow.artist_did == bindparam("did"), TrackRow.publish_state == PublishState.PUBLISHED
    ),
    select(LikeRow.uri, literal(False)).where(LikeRow.liker_did == bindparam("did")),
    select(ListRow.uri, literal(False)).where(ListRow.owner_did == bindparam("did")),
    select(ProfileRow.did, literal(True)).where(ProfileRow.did == bindparam("did")),
)


class SyncStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, one_writer: bool = False
    ) -> None:
        """``one_writer``: apply one transaction at a time in this process (SQLite, which has
        one writer: concurrent transactions would wait in its busy handler, which sleeps up to
        100 ms between tries — a backfill of eight repos spent most of its time asleep)."""
        self._sessions = sessions
        self._writer = asyncio.Lock() if one_writer else None
        self._new_tracks = BulkInsert(_TRACKS, NEW_TRACK_COLUMNS)

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Around every write transaction: this process's turn to write (with ``one_writer``)."""
        return self._writer if self._writer is not None else contextlib.nullcontext()

    async def apply(
        self,
        changes: Sequence[Change],
        *,
        now: datetime,
        cursor: Cursor | None = None,
        links: Sequence[ChainLink] = (),
    ) -> list[AnyApplied]:
        """Apply ``changes``, move ``cursor`` and keep ``links`` (repos' last verified commits) in
        one transaction: all of it or none of it.

        The firehose and a backfill (or two processes) may insert the same new record at once;
        the loser's transaction is rolled back and applied again, now finding the winner's row.
        """
        for attempt in range(1, _CONFLICT_ATTEMPTS + 1):
            try:
                async with self._writing():
                    return await self._apply(changes, now=now, cursor=cursor, links=links)
            except IntegrityError:
                if attempt == _CONFLICT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _apply(
        self,
        changes: Sequence[Change],
        *,
        now: datetime,
        cursor: Cursor | None,
        links: Sequence[ChainLink],
    ) -> list[AnyApplied]:
        applied: list[AnyApplied] = []
        async with self._sessions() as db, db.begin():
            pending = _Pending()
            for change in changes:
                if isinstance(change, Upsert):
                    pending.add(change)  # consecutive upserts of a collection share one lookup
                    continue
                applied += await self._flush(db, pending, now)
                pending = _Pending()
                applied += await self._apply_one(db, change, now)
            applied += await self._flush(db, pending, now)
            if cursor is not None:
                row = await db.get(SyncCursorRow, cursor.source, with_for_update=True)
                if row is None:
                    db.add(
                        SyncCursorRow(
                            source=cursor.source,
                            cursor=cursor.seq,
                            event_time=cursor.event_time,
                            updated_at=now,
                        )
                    )
                else:
                    row.cursor, row.event_time, row.updated_at = cursor.seq, cursor.event_time, now
            await self._keep_links(db, links, now)
        return applied

    async def _flush(self, db: AsyncSession, pending: _Pending, now: datetime) -> list[AnyApplied]:
        applied: list[AnyApplied] = []
        applied += await self._upsert_many(db, await unburied(db, pending.tracks), now)
        applied += await upsert_likes(db, await unburied(db, pending.likes), now)
        applied += await upsert_lists(db, await unburied(db, pending.lists), now)
        applied += await upsert_profiles(db, pending.profiles, now)
        return applied

    @staticmethod
    async def _keep_links(db: AsyncSession, links: Sequence[ChainLink], now: datetime) -> None:
        latest: dict[str, ChainLink] = {}
        for link in links:  # a repo's newest of the batch
            if link.did not in latest or link.rev > latest[link.did].rev:
                latest[link.did] = link
        if not latest:
            return
        stmt = select(RepoChainRow).where(RepoChainRow.did.in_(latest)).with_for_update()
        stored = {row.did: row for row in (await db.execute(stmt)).scalars()}
        for did, link in latest.items():
            row = stored.get(did)
            if row is None:
                db.add(RepoChainRow(did=did, rev=link.rev, data=link.data, updated_at=now))
            elif link.rev > row.rev:
                row.rev, row.data, row.updated_at = link.rev, link.data, now

    async def chain_link(self, did: str) -> ChainLink | None:
        """The last verified commit of ``did``'s repo that was stored, if any."""
        async with self._sessions() as db:
            row = await db.get(RepoChainRow, did)
            return None if row is None else ChainLink(row.did, row.rev, row.data)

    async def _apply_one(
        self, db: AsyncSession, change: OtherChange, now: datetime
    ) -> list[AnyApplied]:
        # A delete at a known revision leaves a tombstone — of a track, a like or a list (keys
        # that are TIDs, never reused), not of a profile, whose one key (``self``) is deleted
        # and made again.
        if isinstance(change, RecordDelete) and not is_profile_uri(change.uri) and change.rev:
            await bury(db, change.uri, change.rev, now)
        if isinstance(change, RecordDelete) and is_like_uri(change.uri):
            return list(await delete_like(db, change.uri))
        if isinstance(change, RecordDelete) and is_list_uri(change.uri):
            return list(await delete_list(db, change.uri))
        if isinstance(change, RecordDelete) and is_profile_uri(change.uri):
            return list(await delete_profile(db, AtUri.parse(change.uri).did))
        if isinstance(change, RecordDelete):
            row = (await db.execute(select(TrackRow).where(TrackRow.uri == change.uri))).scalar()
            if row is None:
                return []
            return [Applied(TrackEventKind.DELETED, r) for r in await self._remove(db, [row], now)]
        if isinstance(change, AccountHidden):
            await db.execute(
                update(TrackRow)
                .where(TrackRow.artist_did == change.did)
                .values(hidden=change.hidden)
            )
            await hide_liker(db, change.did, change.hidden)
            await hide_owner(db, change.did, change.hidden)
            return []
        if isinstance(change, HandleChanged):
            await db.execute(
                update(TrackRow)
                .where(TrackRow.artist_did == change.did)
                .values(artist_handle=change.handle)
            )
            await rename_owner(db, change.did, change.handle)
            await rename_liker(db, change.did, change.handle)
            if change.pds_url is not None:  # a moved account's avatar is fetched from its new PDS
                await moved_pds(db, change.did, change.pds_url)
            return []
        rows = list(
            (await db.execute(select(TrackRow).where(TrackRow.artist_did == change.did))).scalars()
        )
        removed = [Applied(TrackEventKind.DELETED, r) for r in await self._remove(db, rows, now)]
        return [
            *removed,
            *await remove_liker(db, change.did),
            *await remove_owner(db, change.did),
            *await delete_profile(db, change.did),
        ]

    @staticmethod
    async def _remove(db: AsyncSession, rows: Sequence[TrackRow], now: datetime) -> list[TrackRow]:
        """Delete rows, uncounting relay-owned audio in the same transaction; the rows this
        transaction removed (not those another writer removed first)."""
        removed: list[TrackRow] = []
        for row in rows:
            # A conditional statement, not the unit of work: relay's own delete may have removed
            # the row meanwhile (and uncounted its audio).
            gone = await db.execute(delete(TrackRow).where(TrackRow.id == row.id))
            if not getattr(gone, "rowcount", 0):
                continue
            removed.append(row)
            for file_id in owned_objects(row):
                await drop_ref(db, file_id, now)
        return removed

    async def _upsert_many(
        self, db: AsyncSession, changes: Sequence[TrackUpsert], now: datetime
    ) -> list[Applied]:
        """Upsert a batch with one lookup; new rows are inserted together at commit."""
        if not changes:
            return []
        uris = list({change.uri for change in changes})
        # Which exist, in plain Core (a backfill's pages are mostly new); only those are loaded
        # as ORM rows, locked, to be updated.
        found = (await db.execute(_EXISTING, {"uris": uris})).scalars()
        existing = list(found)
        fresh: list[NewTrack] = []
        with db.no_autoflush:
            rows: dict[str, TrackRow | NewTrack] = {}
            if existing:
                stmt = select(TrackRow).where(TrackRow.uri.in_(existing)).with_for_update()
                rows.update((row.uri, row) for row in (await db.execute(stmt)).scalars())
            applied = [a for c in changes if (a := self._upsert(rows, fresh, c, now))]
            for row in rows.values():
                if isinstance(row, TrackRow) and (replaced := _unpinned(row, now)):
                    # A newer record was indexed (an edit of relay's whose process died, seen on
                    # the network): no record shows the cover that edit replaced.
                    await drop_ref(db, replaced, now)
                    row.replaced_image_file_id = None
        # New rows go in as plain tuples, a page in one statement (``db.bulk_insert``): no unit
        # of work, no per-value parameter building.
        await self._new_tracks.run(db, [row.values() for row in fresh])
        return applied

    @staticmethod
    def _upsert(
        rows: dict[str, TrackRow | NewTrack],
        fresh: list[NewTrack],
        change: TrackUpsert,
        now: datetime,
    ) -> Applied | None:
        row = rows.get(change.uri)
        if row is not None and not newer_rev(change.rev, row.rev):
            return None  # an older (or the same) revision than the one indexed
        if row is None:
            row = new_track(
                did=change.did,
                rkey=change.rkey,
                record=change.record,
                created_at=change.record.created_at_time,
                indexed_at=now,
                handle=change.handle,
                publish_state=PublishState.PUBLISHED,
                cid=change.cid,
                rev=change.rev,
            )
            fresh.append(row)
            rows[change.uri] = row
            return Applied(TrackEventKind.CREATED, row)
        unchanged = row.cid == change.cid
        values = {
            **record_columns(change.record),
            "cid": change.cid,
            "rev": change.rev,
            "publish_state": PublishState.PUBLISHED.value,
            "publish_error": None,
            "next_publish_at": None,
        }
        for name, value in values.items():
            setattr(row, name, value)
        if change.handle is not None:
            row.artist_handle = change.handle
        row.derive_keys()
        return None if unchanged else Applied(TrackEventKind.UPDATED, row)

    async def uris_of(self, did: str) -> set[str]:
        """AT-URIs of ``did``'s indexed records that exist as records: its tracks (not drafts),
        likes, lists and profile."""
        async with self._sessions() as db:  # one statement: a backfill asks it of every repo
            rows = (await db.execute(_URIS_OF, {"did": did})).all()
        profile = str(AtUri(did, PROFILE_NSID, "self"))
        return {profile if is_profile else value for value, is_profile in rows}

    async def has_records(self, did: str) -> bool:
        """Whether the index holds any record of ``did`` (index lookups)."""
        async with self._sessions() as db:
            for stmt in (
                select(TrackRow.id).where(TrackRow.artist_did == did).limit(1),
                select(LikeRow.id).where(LikeRow.liker_did == did).limit(1),
                select(ListRow.id).where(ListRow.owner_did == did).limit(1),
            ):
                if (await db.execute(stmt)).first() is not None:
                    return True
            return False

    async def indexed_dids(self) -> set[str]:
        """Every DID the index holds records of."""
        async with self._sessions() as db:
            tracks = set((await db.execute(select(TrackRow.artist_did).distinct())).scalars())
            likers = set((await db.execute(select(LikeRow.liker_did).distinct())).scalars())
            owners = set((await db.execute(select(ListRow.owner_did).distinct())).scalars())
            return tracks | likers | owners

    async def cursor(self, source: str) -> SyncCursorRow | None:
        async with self._sessions() as db:
            return await db.get(SyncCursorRow, source)

    async def cursors(self) -> list[SyncCursorRow]:
        async with self._sessions() as db:
            return list((await db.execute(select(SyncCursorRow))).scalars())

    # -- backfill bookkeeping -----------------------------------------------------------------

    async def backfill_done(self, run: str) -> set[str]:
        async with self._sessions() as db:
            stmt = select(BackfillRepoRow.did).where(
                BackfillRepoRow.run == run, BackfillRepoRow.status == "done"
            )
            return set((await db.execute(stmt)).scalars())

    async def backfill_mark(
        self, run: str, did: str, status: str, *, records: int, error: str | None, now: datetime
    ) -> None:
        async with self._writing(), self._sessions() as db, db.begin():
            row = await db.get(BackfillRepoRow, (run, did))
            if row is None:
                db.add(
                    BackfillRepoRow(
                        run=run, did=did, status=status, records=records, error=error,
                        updated_at=now,
                    )
                )  # fmt: skip
            else:
                row.status, row.records, row.error, row.updated_at = status, records, error, now

    async def backfill_summary(self, run: str | None = None) -> dict[str, int]:
        """Repo counts by status (of one run, or of all runs)."""
        async with self._sessions() as db:
            stmt = select(BackfillRepoRow.status, func.count()).group_by(BackfillRepoRow.status)
            if run is not None:
                stmt = stmt.where(BackfillRepoRow.run == run)
            return {status: int(count) for status, count in (await db.execute(stmt)).all()}

    async def forget_run(self, run: str) -> None:
        async with self._writing(), self._sessions() as db, db.begin():
            await db.execute(delete(BackfillRepoRow).where(BackfillRepoRow.run == run))
