"""Writing ``app.relay.like`` records into the index (``likes``), inside a ``SyncStore``
transaction or relay's own like and unlike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relay.atproto.records import LIKE_NSID, AtUri, LikeRecord
from relay.db.models import LikeRow
from relay.domain import TrackEventKind

LIKES: Table = LikeRow.__table__  # type: ignore[assignment]
_EXISTING = select(LikeRow).where(LikeRow.uri.in_(bindparam("uris", expanding=True)))


@dataclass(frozen=True)
class LikeUpsert:
    """A checked like to index at ``at://did/app.relay.like/rkey``."""

    did: str
    rkey: str
    cid: str
    rev: str | None
    record: LikeRecord
    handle: str | None = None  # the liker's, when known (verified)

    @cached_property
    def uri(self) -> str:
        return str(AtUri(self.did, LIKE_NSID, self.rkey))


@dataclass(frozen=True)
class LikeApplied:
    """A like that took effect: ``created``, ``updated`` (another subject) or ``deleted``."""

    kind: TrackEventKind
    uri: str
    liker_did: str
    subject_uri: str


def is_like_uri(uri: str) -> bool:
    return uri.startswith("at://") and f"/{LIKE_NSID}/" in uri


def newer_rev(rev: str | None, than: str | None) -> bool:
    """Whether a record at ``rev`` replaces one at ``than``. Revisions are TIDs: they sort as
    strings. Unknown revisions never block a change."""
    return rev is None or than is None or rev > than


async def upsert_likes(
    db: AsyncSession, changes: Sequence[LikeUpsert], now: datetime
) -> list[LikeApplied]:
    """Insert new likes and update changed ones (a newer revision with another CID), with one
    lookup for the batch."""
    if not changes:
        return []
    stmt = _EXISTING.with_for_update()
    found = {row.uri: row for row in (await db.execute(stmt, {"uris": [c.uri for c in changes]}))
             .scalars()}  # fmt: skip
    fresh: dict[str, dict[str, object]] = {}
    applied: list[LikeApplied] = []
    for change in changes:
        subject = change.record.subject
        row = found.get(change.uri)
        if row is None:
            if change.uri not in fresh:
                applied.append(LikeApplied(TrackEventKind.CREATED, change.uri, change.did,
                                           subject.uri))  # fmt: skip
            fresh[change.uri] = {
                "uri": change.uri, "liker_did": change.did, "liker_handle": change.handle,
                "rkey": change.rkey,
                "cid": change.cid, "rev": change.rev, "subject_uri": subject.uri,
                "subject_cid": subject.cid, "created_at": change.record.created_at_time,
                "indexed_at": now, "hidden": False,
            }  # fmt: skip
            continue
        if not newer_rev(change.rev, row.rev) or row.cid == change.cid:
            continue
        row.cid, row.rev = change.cid, change.rev
        row.subject_uri, row.subject_cid = subject.uri, subject.cid
        row.created_at = change.record.created_at_time
        applied.append(LikeApplied(TrackEventKind.UPDATED, change.uri, change.did, subject.uri))
    if fresh:
        await db.execute(LIKES.insert(), list(fresh.values()))
    return applied


async def delete_likes(db: AsyncSession, rows: Sequence[LikeRow]) -> list[LikeApplied]:
    """Delete these likes; those this transaction removed (not another writer)."""
    removed: list[LikeApplied] = []
    for row in rows:
        gone = await db.execute(delete(LikeRow).where(LikeRow.id == row.id))
        if getattr(gone, "rowcount", 0):
            removed.append(
                LikeApplied(TrackEventKind.DELETED, row.uri, row.liker_did, row.subject_uri)
            )
    return removed


async def delete_like(db: AsyncSession, uri: str) -> list[LikeApplied]:
    rows = (await db.execute(select(LikeRow).where(LikeRow.uri == uri))).scalars()
    return await delete_likes(db, list(rows))


async def remove_liker(db: AsyncSession, did: str) -> list[LikeApplied]:
    """Every like of an account that is gone."""
    rows = (await db.execute(select(LikeRow).where(LikeRow.liker_did == did))).scalars()
    return await delete_likes(db, list(rows))


async def rename_liker(db: AsyncSession, did: str, handle: str | None) -> None:
    await db.execute(update(LikeRow).where(LikeRow.liker_did == did).values(liker_handle=handle))


async def hide_liker(db: AsyncSession, did: str, hidden: bool) -> None:
    await db.execute(update(LikeRow).where(LikeRow.liker_did == did).values(hidden=hidden))
