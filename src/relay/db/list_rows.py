"""Writing ``app.relay.list`` records (albums, playlists) into the index — ``lists`` and their
``list_items`` — inside a ``SyncStore`` transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relay.atproto.records import LIST_NSID, AtUri, ListRecord
from relay.db.like_rows import newer_rev
from relay.db.models import ListItemRow, ListRow
from relay.domain import TrackEventKind

LISTS: Table = ListRow.__table__  # type: ignore[assignment]
ITEMS: Table = ListItemRow.__table__  # type: ignore[assignment]
_EXISTING = select(ListRow).where(ListRow.uri.in_(bindparam("uris", expanding=True)))


@dataclass(frozen=True)
class ListUpsert:
    """A checked list to index at ``at://did/app.relay.list/rkey``."""

    did: str
    rkey: str
    cid: str
    rev: str | None
    record: ListRecord
    handle: str | None = None  # the owner's, when known (verified)

    @cached_property
    def uri(self) -> str:
        return str(AtUri(self.did, LIST_NSID, self.rkey))


@dataclass(frozen=True)
class ListApplied:
    """A list that took effect: ``created``, ``updated`` or ``deleted``."""

    kind: TrackEventKind
    uri: str
    owner_did: str


def is_list_uri(uri: str) -> bool:
    return uri.startswith("at://") and f"/{LIST_NSID}/" in uri


def _columns(change: ListUpsert) -> dict[str, object]:
    record = change.record
    handle = {"owner_handle": change.handle} if change.handle is not None else {}
    return {
        **handle,
        "cid": change.cid, "rev": change.rev, "name": record.name,
        "name_key": record.name.casefold(), "list_type": record.list_type,
        "description": record.description, "image_url": record.image_url,
        "item_count": len(record.items), "record_created_at": record.created_at,
        "created_at": record.created_at_time, "updated_at": record.updated_at,
    }  # fmt: skip


def _items(list_id: int, record: ListRecord) -> list[dict[str, object]]:
    return [
        {"list_id": list_id, "position": i, "track_uri": ref.uri, "track_cid": ref.cid}
        for i, ref in enumerate(record.items)
    ]


async def upsert_lists(
    db: AsyncSession, changes: Sequence[ListUpsert], now: datetime
) -> list[ListApplied]:
    """Insert new lists and rewrite changed ones (a newer revision with another CID) with their
    items."""
    if not changes:
        return []
    stmt = _EXISTING.with_for_update()
    found = {row.uri: row for row in (await db.execute(stmt, {"uris": [c.uri for c in changes]}))
             .scalars()}  # fmt: skip
    latest: dict[str, ListUpsert] = {}
    for change in changes:  # a batch may hold several versions of one list: the newest counts
        held = latest.get(change.uri)
        if held is None or newer_rev(change.rev, held.rev):
            latest[change.uri] = change
    applied: list[ListApplied] = []
    for uri, change in latest.items():
        row = found.get(uri)
        if row is None:
            values = {
                "uri": uri, "owner_did": change.did, "rkey": change.rkey, "indexed_at": now,
                "hidden": False, **_columns(change),
            }  # fmt: skip
            inserted = await db.execute(LISTS.insert().returning(LISTS.c.id), [values])
            list_id = int(inserted.scalar_one())
            applied.append(ListApplied(TrackEventKind.CREATED, uri, change.did))
        else:
            if not newer_rev(change.rev, row.rev) or row.cid == change.cid:
                continue
            list_id = row.id
            await db.execute(update(ListRow).where(ListRow.id == row.id).values(**_columns(change)))
            await db.execute(delete(ListItemRow).where(ListItemRow.list_id == row.id))
            applied.append(ListApplied(TrackEventKind.UPDATED, uri, change.did))
        if change.record.items:
            await db.execute(ITEMS.insert(), _items(list_id, change.record))
    return applied


async def _delete(db: AsyncSession, rows: Sequence[ListRow]) -> list[ListApplied]:
    removed: list[ListApplied] = []
    for row in rows:
        await db.execute(delete(ListItemRow).where(ListItemRow.list_id == row.id))
        gone = await db.execute(delete(ListRow).where(ListRow.id == row.id))
        if getattr(gone, "rowcount", 0):
            removed.append(ListApplied(TrackEventKind.DELETED, row.uri, row.owner_did))
    return removed


async def delete_list(db: AsyncSession, uri: str) -> list[ListApplied]:
    rows = (await db.execute(select(ListRow).where(ListRow.uri == uri))).scalars()
    return await _delete(db, list(rows))


async def remove_owner(db: AsyncSession, did: str) -> list[ListApplied]:
    """Every list of an account that is gone."""
    rows = (await db.execute(select(ListRow).where(ListRow.owner_did == did))).scalars()
    return await _delete(db, list(rows))


async def rename_owner(db: AsyncSession, did: str, handle: str | None) -> None:
    await db.execute(update(ListRow).where(ListRow.owner_did == did).values(owner_handle=handle))


async def hide_owner(db: AsyncSession, did: str, hidden: bool) -> None:
    await db.execute(update(ListRow).where(ListRow.owner_did == did).values(hidden=hidden))
