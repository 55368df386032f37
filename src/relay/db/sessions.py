"""``SessionStore``: relay sessions, looked up by the SHA-256 of their bearer token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.models import OAuthRequestRow, SessionRow


@dataclass
class LockedSession:
    """A session row under lock; set attributes of ``row`` to change it."""

    row: SessionRow | None


class SessionStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, row: SessionRow) -> SessionRow:
        async with self._sessions() as db, db.begin():
            db.add(row)
        return row

    async def get(self, session_id: int) -> SessionRow | None:
        async with self._sessions() as db:
            return await db.get(SessionRow, session_id)

    async def by_token_hash(self, token_hash: str, now: datetime) -> SessionRow | None:
        async with self._sessions() as db:
            stmt = select(SessionRow).where(
                SessionRow.token_hash == token_hash, SessionRow.expires_at > now
            )
            return (await db.execute(stmt)).scalar()

    async def latest_for_did(self, did: str, now: datetime) -> SessionRow | None:
        """The newest live session of ``did``: background publishing acts with it."""
        async with self._sessions() as db:
            stmt = (
                select(SessionRow)
                .where(SessionRow.did == did, SessionRow.expires_at > now)
                .order_by(SessionRow.created_at.desc(), SessionRow.id.desc())
                .limit(1)
            )
            return (await db.execute(stmt)).scalar()

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[LockedSession]:
        """The session row, locked against every other process until the block ends (its
        changes are committed then). The lock is a write to the row: PostgreSQL locks the row,
        SQLite takes its one writer lock — either way a second process waits here."""
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(id=SessionRow.id)
            )
            row = await db.get(SessionRow, session_id, populate_existing=True)
            yield LockedSession(row)

    async def update(self, session_id: int, **values: Any) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))

    async def delete(self, session_id: int) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(SessionRow).where(SessionRow.id == session_id))


class OAuthRequestStore:
    """Pending sign-ins; each ``state`` can be taken exactly once."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def insert(self, row: OAuthRequestRow) -> None:
        async with self._sessions() as db, db.begin():
            db.add(row)

    async def take(self, state: str, now: datetime) -> OAuthRequestRow | None:
        """Remove and return the live request for ``state`` (None if unknown or expired)."""
        async with self._sessions() as db, db.begin():
            row = await db.get(OAuthRequestRow, state, with_for_update=True)
            if row is None:
                return None
            await db.delete(row)
            return row if row.expires_at > now else None

    async def purge_expired(self, now: datetime) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(OAuthRequestRow).where(OAuthRequestRow.expires_at <= now))
