"""Writing indexed artists' ``app.bsky.actor.profile`` records into ``profiles``, inside a
``SyncStore`` transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from relay.atproto.records import PROFILE_NSID, AtUri, ProfileRecord
from relay.db.like_rows import newer_rev
from relay.db.models import ProfileRow
from relay.domain import TrackEventKind


@dataclass(frozen=True)
class ProfileUpsert:
    """A checked profile of ``did`` (its record key is ``self``), and the PDS serving its blobs."""

    did: str
    rkey: str
    cid: str
    rev: str | None
    record: ProfileRecord
    pds_url: str | None

    @cached_property
    def uri(self) -> str:
        return str(AtUri(self.did, PROFILE_NSID, self.rkey))


@dataclass(frozen=True)
class ProfileApplied:
    kind: TrackEventKind
    did: str


def is_profile_uri(uri: str) -> bool:
    return uri.startswith("at://") and uri.endswith(f"/{PROFILE_NSID}/self")


async def upsert_profiles(
    db: AsyncSession, changes: Sequence[ProfileUpsert], now: datetime
) -> list[ProfileApplied]:
    applied: list[ProfileApplied] = []
    for change in changes:
        row = await db.get(ProfileRow, change.did, with_for_update=True)
        record = change.record
        avatar = record.avatar
        values = {
            "cid": change.cid, "rev": change.rev, "display_name": record.display_name,
            "description": record.description,
            "avatar_cid": avatar.cid if avatar else None,
            "avatar_mime": avatar.mime_type if avatar else None, "indexed_at": now,
        }  # fmt: skip
        if row is None:
            db.add(ProfileRow(did=change.did, pds_url=change.pds_url, **values))
            await db.flush()
            applied.append(ProfileApplied(TrackEventKind.CREATED, change.did))
            continue
        if not newer_rev(change.rev, row.rev) or row.cid == change.cid:
            continue
        for name, value in values.items():
            setattr(row, name, value)
        if change.pds_url is not None:
            row.pds_url = change.pds_url
        applied.append(ProfileApplied(TrackEventKind.UPDATED, change.did))
    return applied


async def delete_profile(db: AsyncSession, did: str) -> list[ProfileApplied]:
    gone = await db.execute(delete(ProfileRow).where(ProfileRow.did == did))
    return [ProfileApplied(TrackEventKind.DELETED, did)] if getattr(gone, "rowcount", 0) else []


async def moved_pds(db: AsyncSession, did: str, pds_url: str) -> None:
    await db.execute(update(ProfileRow).where(ProfileRow.did == did).values(pds_url=pds_url))
