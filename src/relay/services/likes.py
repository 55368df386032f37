"""Liking tracks: ``app.relay.like`` records written to the listener's own repo, indexed by the
same path as likes from the network (``SyncStore``), and read back as counts and pages.

Liking is idempotent: a track the viewer likes already is left as it is; unliking removes each of
their likes of it (two clients liking at once may have written two). The record is written before
the index: if the PDS refuses, nothing changed; if the index write fails after it, the firehose
(or the next backfill) indexes the record the PDS holds.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.atproto.records import LIKE_NSID, LikeRecord, StrongRef, format_datetime
from relay.db.cursors import check_size
from relay.db.like_index import LikeIndex, LikePage
from relay.db.like_rows import LikeUpsert
from relay.db.sync import RecordDelete
from relay.domain import PublishState
from relay.errors import BadUserInputError, NotFoundError
from relay.services.record_writer import RecordWriter
from relay.services.sessions import Viewer
from relay.services.track_reads import TrackReads
from relay.services.views import TrackView

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LikePageRequest:
    first: int
    after: str | None


@dataclass(frozen=True)
class LikeView:
    """One indexed like, as the API shows it."""

    uri: str
    liker_did: str
    liker_handle: str | None
    subject_uri: str
    subject_cid: str
    created_at: datetime


@dataclass(frozen=True)
class LikePageView:
    likes: Sequence[LikeView]
    cursors: Sequence[str]
    has_next_page: bool

    @classmethod
    def of(cls, page: LikePage) -> LikePageView:
        return cls(
            likes=[
                LikeView(
                    one.uri,
                    one.liker_did,
                    one.liker_handle,
                    one.subject_uri,
                    one.subject_cid,
                    one.created_at,
                )
                for one in page.likes
            ],
            cursors=[page.cursor(like) for like in page.likes],
            has_next_page=page.has_next_page,
        )


class Likes:
    def __init__(
        self, *, likes: LikeIndex, reads: TrackReads, writer: RecordWriter, max_page: int
    ) -> None:
        self._likes = likes
        self._reads = reads
        self._writer = writer
        self._max_page = max_page
        # One like or unlike at a time per listener and track in this process (a lock lives
        # while someone holds or awaits it).
        self._busy: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def counts(self, uris: Sequence[str]) -> dict[str, int]:
        return await self._likes.counts(uris)

    async def liked(self, viewer_did: str | None, uris: Sequence[str]) -> set[str]:
        if viewer_did is None:
            return set()
        return await self._likes.liked(viewer_did, uris)

    async def page(
        self, req: LikePageRequest, *, liker_did: str | None = None, subject_uri: str | None = None
    ) -> LikePageView:
        check_size("first", req.first, self._max_page)
        page = await self._likes.page(
            liker_did=liker_did, subject_uri=subject_uri, first=req.first, after=req.after
        )
        return LikePageView.of(page)

    async def _track(self, viewer: Viewer, uri: str) -> TrackView:
        view = (await self._reads.get_many([uri], viewer.did)).get(uri)
        if view is None:
            raise NotFoundError(f"no track {uri}")
        if view.publish_state is not PublishState.PUBLISHED or view.cid is None:
            raise BadUserInputError("only a published track can be liked")
        return view

    def _lock(self, viewer: Viewer, uri: str) -> asyncio.Lock:
        key = (viewer.did, uri)
        lock = self._busy.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._busy[key] = lock
        return lock

    async def like(self, viewer: Viewer, uri: str) -> TrackView:
        """Like a track the viewer can see (published): its record goes to their repo."""
        view = await self._track(viewer, uri)
        async with self._lock(viewer, uri):
            if await self._likes.of(viewer.did, uri):
                return view  # liked already
            assert view.cid is not None
            record = LikeRecord(
                subject=StrongRef(uri=uri, cid=view.cid),
                created_at=format_datetime(self._writer.now()),
            )
            rkey = self._writer.next_rkey()
            ref = await self._writer.put(
                viewer, collection=LIKE_NSID, rkey=rkey, record=record, swap=None, metric="like"
            )
            change = LikeUpsert(
                did=viewer.did, rkey=rkey, cid=ref.cid, rev=ref.rev, record=record,
                handle=viewer.handle,
            )  # fmt: skip
            await self._writer.index([change])
        return view

    async def unlike(self, viewer: Viewer, uri: str) -> TrackView | None:
        """Remove the viewer's likes of a track (none: nothing to do). The track, if it is still
        there for the viewer to see."""
        async with self._lock(viewer, uri):
            mine = await self._likes.of(viewer.did, uri)
            for like in mine:
                rev = await self._writer.delete(
                    viewer, collection=LIKE_NSID, rkey=like.rkey, metric="unlike"
                )
                await self._writer.index([RecordDelete(like.uri, rev=rev)])
        return (await self._reads.get_many([uri], viewer.did)).get(uri)
