"""``ProfileIndex``: indexed artists' profiles by DID (one statement for a page's artists)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from relay.db.models import ProfileRow


@dataclass(frozen=True)
class StoredProfile:
    did: str
    display_name: str | None
    description: str | None
    avatar_cid: str | None
    avatar_mime: str | None
    pds_url: str | None


class ProfileIndex:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        engine = sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self._engine = engine

    async def get_many(self, dids: Sequence[str]) -> dict[str, StoredProfile]:
        if not dids:
            return {}
        stmt = select(
            ProfileRow.did, ProfileRow.display_name, ProfileRow.description,
            ProfileRow.avatar_cid, ProfileRow.avatar_mime, ProfileRow.pds_url,
        ).where(ProfileRow.did.in_(list(set(dids))))  # fmt: skip
        async with self._engine.connect() as db:
            return {row[0]: StoredProfile(*row) for row in await db.execute(stmt)}
