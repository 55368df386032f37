"""A bounded, expiring cache of resolved identities for the firehose.

The network has tens of millions of repos: an unbounded dict keyed by DID grows for as long as
the process runs. This keeps the most recently used ``max_entries`` and forgets each after
``ttl`` (a rotated signing key is also picked up at once: a bad signature refreshes the entry).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from relay.atproto.identity import Identity, IdentityResolver
from relay.clock import Clock


class IdentityCache:
    def __init__(
        self,
        resolver: IdentityResolver,
        clock: Clock,
        *,
        max_entries: int = 50_000,
        ttl: timedelta = timedelta(hours=1),
    ) -> None:
        self._resolver = resolver
        self._clock = clock
        self._max = max_entries
        self._ttl = ttl
        self._entries: OrderedDict[str, tuple[datetime, Identity]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, did: str, *, refresh: bool = False) -> Identity:
        now = self._clock.now()
        cached = self._entries.get(did)
        if cached is not None and not refresh and now - cached[0] < self._ttl:
            self._entries.move_to_end(did)
            return cached[1]
        identity = await self._resolver.resolve(did)
        self._entries[did] = (now, identity)
        self._entries.move_to_end(did)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return identity

    def forget(self, did: str) -> None:
        """Drop ``did``'s entry: it is resolved afresh when next needed."""
        self._entries.pop(did, None)
