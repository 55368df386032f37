"""Reference counts of stored audio objects (``audio_objects``), kept in the same transactions as
the track rows that use them, and the claims the collector and uploads make on them.

States of a row: ``refs > 0`` in use; ``refs = 0`` unreferenced since ``unreferenced_since``
(an upload about to store the bytes, or the last track gone); ``refs = -1`` being removed by the
collector (since ``unreferenced_since``). An upload of the same bytes waits for a removal to finish
rather than racing it, so an object a row references is never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.models import AudioObjectRow

REMOVING = -1


class OwnsObjects(Protocol):
    """A track (row, plain row or returned columns) and the stored objects it counts."""

    @property
    def file_id(self) -> str | None: ...
    @property
    def image_file_id(self) -> str | None: ...
    @property
    def replaced_image_file_id(self) -> str | None: ...


COUNTED_ARTWORK = ("image_file_id", "replaced_image_file_id")
"""A track's columns naming artwork it holds a reference to (``owned_objects``)."""


def owned_objects(row: OwnsObjects) -> list[str]:
    """The stored objects ``row`` holds a reference to (one each): its audio, its artwork and
    the artwork an edit in flight replaces."""
    keys = (row.file_id, row.image_file_id, row.replaced_image_file_id)
    return [key for key in keys if key is not None]


async def add_ref(db: AsyncSession, file_id: str) -> bool:
    """Count one more row using ``file_id`` (inside the caller's transaction). False when the
    object is being removed, or its row is gone (the collector removed it after the upload had
    announced it): the caller must store the bytes again before referencing them."""
    result = await db.execute(
        update(AudioObjectRow)
        .where(AudioObjectRow.file_id == file_id, AudioObjectRow.refs >= 0)
        .values(refs=AudioObjectRow.refs + 1, unreferenced_since=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def drop_ref(db: AsyncSession, file_id: str, now: datetime) -> None:
    """Count one row fewer (inside the caller's transaction); the last one starts the grace."""
    await db.execute(
        update(AudioObjectRow)
        .where(AudioObjectRow.file_id == file_id, AudioObjectRow.refs > 0)
        .values(refs=AudioObjectRow.refs - 1)
    )
    await db.execute(
        update(AudioObjectRow)
        .where(AudioObjectRow.file_id == file_id, AudioObjectRow.refs == 0)
        .values(unreferenced_since=now)
    )


class AudioRefs:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def intend(self, file_id: str, now: datetime) -> bool:
        """Before storing ``file_id``: make sure a row exists and, if unreferenced, restart its
        grace. False while the collector is removing the object (try again shortly)."""
        try:
            async with self._sessions() as db, db.begin():
                row = await db.get(AudioObjectRow, file_id, with_for_update=True)
                if row is None:
                    db.add(
                        AudioObjectRow(
                            file_id=file_id, refs=0, unreferenced_since=now, created_at=now
                        )
                    )
                    return True
                if row.refs == REMOVING:
                    return False
                if row.refs == 0:
                    row.unreferenced_since = now
                return True
        except IntegrityError:
            return False  # another upload of the same bytes inserted it first: try again

    async def unreferenced(self, cutoff: datetime, limit: int) -> list[str]:
        """Objects no row has used since before ``cutoff``."""
        async with self._sessions() as db:
            stmt = (
                select(AudioObjectRow.file_id)
                .where(AudioObjectRow.refs == 0, AudioObjectRow.unreferenced_since <= cutoff)
                .order_by(AudioObjectRow.unreferenced_since)
                .limit(limit)
            )
            return list((await db.execute(stmt)).scalars())

    async def claim_removal(self, file_id: str, cutoff: datetime, now: datetime) -> bool:
        """Mark an object as being removed if it is still unreferenced since before ``cutoff``."""
        async with self._sessions() as db, db.begin():
            result = await db.execute(
                update(AudioObjectRow)
                .where(
                    AudioObjectRow.file_id == file_id,
                    AudioObjectRow.refs == 0,
                    AudioObjectRow.unreferenced_since <= cutoff,
                )
                .values(refs=REMOVING, unreferenced_since=now)
            )
            return bool(getattr(result, "rowcount", 0))

    async def removed(self, file_id: str) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(
                delete(AudioObjectRow).where(
                    AudioObjectRow.file_id == file_id, AudioObjectRow.refs == REMOVING
                )
            )

    async def release_removal(self, file_id: str, now: datetime) -> None:
        """A removal that failed: the object is unreferenced again (and retried later)."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(AudioObjectRow)
                .where(AudioObjectRow.file_id == file_id, AudioObjectRow.refs == REMOVING)
                .values(refs=0, unreferenced_since=now)
            )

    async def release_stale_removals(self, before: datetime, now: datetime) -> None:
        """Removals whose collector died (since before ``before``) become unreferenced again."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(AudioObjectRow)
                .where(AudioObjectRow.refs == REMOVING, AudioObjectRow.unreferenced_since < before)
                .values(refs=0, unreferenced_since=now)
            )
