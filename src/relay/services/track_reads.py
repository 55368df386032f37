"""Reading the index: tracks, pages and artists, as read models (never ORM rows) — each read for
a viewer (a DID, or None for an anonymous caller), who sees published tracks and their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from relay.clock import Clock
from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import PageRequest, TrackOrder, TrackOrderField
from relay.services.views import ArtistView, TrackPageView, TrackView

__all__ = ["TrackFilter", "TrackReads"]


class TrackReads:
    def __init__(
        self, index: TrackIndex, clock: Clock, popular_window: timedelta = timedelta(days=7)
    ) -> None:
        self._index = index
        self._clock = clock
        self._popular_window = popular_window

    async def get_many(self, uris: Sequence[str], viewer_did: str | None) -> dict[str, TrackView]:
        """Tracks by AT-URI that the viewer may see."""
        rows = await self._index.get_many_by_uri(uris, viewer_did)
        return {uri: TrackView.of(row) for uri, row in rows.items()}

    def _dated(self, order: TrackOrder) -> TrackOrder:
        if order.field is TrackOrderField.POPULAR:  # "popular this week": likes of the last 7 days
            return replace(order, since=self._clock.now() - self._popular_window)
        return order

    async def page(self, flt: TrackFilter, order: TrackOrder, req: PageRequest) -> TrackPageView:
        return TrackPageView.of(await self._index.page(flt, self._dated(order), req))

    async def count(self, flt: TrackFilter, order: TrackOrder | None = None) -> int:
        """How many tracks match ``flt`` (a count over every page: only when asked for) — in
        the POPULAR order, only those it lists (liked this week)."""
        return await self._index.count(flt, self._dated(order) if order is not None else None)

    async def artists(self, dids: Sequence[str], viewer_did: str | None) -> dict[str, ArtistView]:
        """Artists with the counts of the tracks the viewer may see."""
        stats = await self._index.artist_stats(dids, viewer_did)
        return {did: ArtistView.of(value) for did, value in stats.items()}

    async def did_for_handle(self, handle: str, viewer_did: str | None) -> str | None:
        """The DID whose tracks (that the viewer may see) carry ``handle`` (no network lookup)."""
        return await self._index.did_for_handle(
            handle.strip().lower().removeprefix("@"), viewer_did
        )
