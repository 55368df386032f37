"""``LikeIndex``: the queries on ``likes`` — counts and the viewer's likes for a page of tracks
(one statement each), and pages of likes by a listener or of a track, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from relay.db.cursors import IdCursor
from relay.db.models import LikeRow

_COUNTS = (
    select(LikeRow.subject_uri, func.count(func.distinct(LikeRow.liker_did)))
    .where(LikeRow.subject_uri.in_(bindparam("uris", expanding=True)), LikeRow.hidden.is_(False))
    .group_by(LikeRow.subject_uri)
)
_LIKED = (
    select(LikeRow.subject_uri)
    .where(
        LikeRow.liker_did == bindparam("did"),
        LikeRow.subject_uri.in_(bindparam("uris", expanding=True)),
    )
    .distinct()
)
LIKE_CURSORS = IdCursor("like:", "likes")


@dataclass(frozen=True)
class StoredLike:
    """A like as read from the index."""

    id: int
    uri: str
    liker_did: str
    liker_handle: str | None
    rkey: str
    subject_uri: str
    subject_cid: str
    created_at: datetime


@dataclass(frozen=True)
class LikePage:
    likes: Sequence[StoredLike]
    has_next_page: bool

    def cursor(self, like: StoredLike) -> str:
        return LIKE_CURSORS.encode(like.id)


def _stored(row: LikeRow) -> StoredLike:
    return StoredLike(
        id=row.id, uri=row.uri, liker_did=row.liker_did, liker_handle=row.liker_handle,
        rkey=row.rkey,
        subject_uri=row.subject_uri, subject_cid=row.subject_cid, created_at=row.created_at,
    )  # fmt: skip


class LikeIndex:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        engine = sessions.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self._engine = engine

    async def counts(self, uris: Sequence[str]) -> dict[str, int]:
        """How many listeners like each of these tracks (one like each; hidden accounts not
        counted)."""
        if not uris:
            return {}
        async with self._engine.connect() as db:
            rows = await db.execute(_COUNTS, {"uris": list(set(uris))})
            return {uri: int(count) for uri, count in rows.all()}

    async def liked(self, did: str, uris: Sequence[str]) -> set[str]:
        """Which of these tracks ``did`` likes."""
        if not uris:
            return set()
        async with self._engine.connect() as db:
            rows = await db.execute(_LIKED, {"did": did, "uris": list(set(uris))})
            return set(rows.scalars())

    async def of(self, did: str, subject_uri: str) -> list[StoredLike]:
        """``did``'s likes of one track (one, unless two clients liked it at once)."""
        async with self._sessions() as db:
            stmt = select(LikeRow).where(
                LikeRow.liker_did == did, LikeRow.subject_uri == subject_uri
            )
            return [_stored(row) for row in (await db.execute(stmt)).scalars()]

    async def page(
        self,
        *,
        liker_did: str | None = None,
        subject_uri: str | None = None,
        first: int,
        after: str | None,
    ) -> LikePage:
        """Likes by a listener, or of a track, newest indexed first (hidden accounts' not)."""
        stmt = select(LikeRow).where(LikeRow.hidden.is_(False))
        if liker_did is not None:
            stmt = stmt.where(LikeRow.liker_did == liker_did)
        if subject_uri is not None:
            stmt = stmt.where(LikeRow.subject_uri == subject_uri)
        if after is not None:
            stmt = stmt.where(LikeRow.id < LIKE_CURSORS.decode(after))
        stmt = stmt.order_by(LikeRow.id.desc()).limit(first + 1)
        async with self._sessions() as db:
            rows = [_stored(row) for row in (await db.execute(stmt)).scalars()]
        return LikePage(rows[:first], has_next_page=len(rows) > first)
