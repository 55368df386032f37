"""``SessionStore``: relay sessions, looked up by the SHA-256 of their bearer token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.models import SessionRow


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

    async def store_tokens(self, session_id: int, access_token: str, refresh_token: str) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(access_token=access_token, refresh_token=refresh_token)
            )

    async def delete(self, session_id: int) -> None:
        async with self._sessions() as db, db.begin():
            await db.execute(delete(SessionRow).where(SessionRow.id == session_id))
