"""Stored audio and its life: an upload announces the object before storing it, rows count their
references in their own transactions, and the collector removes what no row has used for a grace
period — also objects whose upload crashed before its row existed. Nothing is removed while a row
references it, and an upload of the same bytes never races a removal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import anyio

from relay.clock import Clock
from relay.db.audio_refs import AudioRefs, owned_objects
from relay.db.models import TrackRow
from relay.errors import StorageUnavailableError
from relay.media.artwork import CONTENT_TYPE as ARTWORK_CONTENT_TYPE
from relay.media.artwork import Artwork
from relay.storage.base import AudioStore

log = logging.getLogger(__name__)


class AudioObjects:
    def __init__(
        self,
        *,
        refs: AudioRefs,
        store: AudioStore,
        clock: Clock,
        grace: timedelta,
        removal_timeout: timedelta,
        batch_size: int,
    ) -> None:
        self._refs = refs
        self._store = store
        self._clock = clock
        self._grace = grace
        self._removal_timeout = removal_timeout
        self._batch_size = batch_size

    async def intend(self, file_id: str) -> None:
        """Before storing ``file_id``: register it (so a crash before its row exists leaves
        something the collector finds), waiting out a removal of the same bytes in progress."""
        deadline = self._clock.now() + self._removal_timeout
        while not await self._refs.intend(file_id, self._clock.now()):
            if self._clock.now() > deadline:
                raise StorageUnavailableError("the same audio is being removed; upload again")
            await asyncio.sleep(0.05)

    async def store_artwork(self, cover: Artwork, staging: Path) -> str:
        """Announce and store a normalized cover (written beside ``staging``'s files, then put);
        its key, for a row to count."""
        await self.intend(cover.key)
        path = staging / f"artwork-{cover.key}"
        await anyio.Path(path).write_bytes(cover.data)
        try:
            await self._store.put(cover.key, path, ARTWORK_CONTENT_TYPE)
        finally:
            await anyio.Path(path).unlink(missing_ok=True)
        return cover.key

    async def collect(self, file_id: str) -> bool:
        """Remove ``file_id`` if no row has used it for the grace period; True if removed. A
        failure is logged and left for the next pass."""
        now = self._clock.now()
        if not await self._refs.claim_removal(file_id, now - self._grace, now):
            return False
        try:
            await self._store.delete(file_id)
        except Exception:
            log.exception("could not remove unreferenced audio %s; will retry", file_id)
            await self._refs.release_removal(file_id, self._clock.now())
            return False
        await self._refs.removed(file_id)
        return True

    async def collect_of(self, rows: Sequence[TrackRow]) -> None:
        """After rows left the index (deleted here or elsewhere): collect their audio and artwork
        if due."""
        for file_id in sorted({key for row in rows for key in owned_objects(row)}):
            await self.collect(file_id)

    async def collect_due(self) -> int:
        """One collector pass: every object unreferenced for the grace period; how many went."""
        now = self._clock.now()
        await self._refs.release_stale_removals(now - self._removal_timeout, now)
        removed = 0
        for file_id in await self._refs.unreferenced(now - self._grace, self._batch_size):
            removed += await self.collect(file_id)
        return removed

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                removed = await self.collect_due()
                if removed:
                    log.info("collector removed %d unreferenced audio objects", removed)
            except Exception:
                log.exception("collector pass failed; retrying")
            await asyncio.sleep(interval)
