"""Tombstones (``record_tombstones``): tracks, likes and lists deleted at a known revision of their
repo, so that an older copy arriving later is not indexed again.

Copies arrive late for ordinary reasons: relay deletes its user's track, and the firehose, running
behind, then delivers the commit of an edit made before the delete; or a backfill's listing was
read before the delete and is written after it. Either is older (a lower revision — revisions are
TIDs and sort as strings) than the delete. A copy with no revision at all cannot prove it is newer,
so it is left out too; the firehose brings a genuinely re-created record with its revision. A
newer copy is indexed and takes its tombstone away. Tombstones go after ``TOMBSTONE_DAYS``, far
longer than any stream replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from relay.db.models import TombstoneRow

TOMBSTONE_DAYS = 7

_BURIED = select(TombstoneRow.uri, TombstoneRow.rev).where(
    TombstoneRow.uri.in_(bindparam("uris", expanding=True))
)


class _Copy(Protocol):
    @property
    def uri(self) -> str: ...

    @property
    def rev(self) -> str | None: ...


C = TypeVar("C", bound=_Copy)


async def bury(db: AsyncSession, uri: str, rev: str, now: datetime) -> None:
    """Remember, in the caller's transaction, that ``uri`` was deleted at ``rev`` (the newest such
    revision is kept: two processes may bury the same record at once); tombstones older than
    ``TOMBSTONE_DAYS`` go."""
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(TombstoneRow).values(uri=uri, rev=rev, deleted_at=now)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[TombstoneRow.uri],
            set_={"rev": statement.excluded.rev, "deleted_at": statement.excluded.deleted_at},
            where=statement.excluded.rev > TombstoneRow.rev,
        )
    )
    cutoff = now - timedelta(days=TOMBSTONE_DAYS)
    await db.execute(delete(TombstoneRow).where(TombstoneRow.deleted_at < cutoff))


async def unburied(db: AsyncSession, changes: Sequence[C]) -> list[C]:
    """``changes`` without the copies older than their record's delete (or with no revision to
    compare); a tombstone that a newer copy outdates is removed, in the caller's transaction."""
    if not changes:
        return []
    result = await db.execute(_BURIED, {"uris": list({c.uri for c in changes})})
    found: dict[str, str] = dict(result.all())
    if not found:
        return list(changes)
    kept: list[C] = []
    outdated: set[str] = set()
    for change in changes:
        deleted = found.get(change.uri)  # the revision it was deleted at
        if deleted is None:
            kept.append(change)
        elif change.rev is not None and change.rev > deleted:
            kept.append(change)
            outdated.add(change.uri)
    if outdated:
        await db.execute(delete(TombstoneRow).where(TombstoneRow.uri.in_(outdated)))
    return kept
