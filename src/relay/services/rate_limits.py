"""Rate limits per client address and per identity (the ``limits`` library): in this process by
default, shared by every replica through Redis when ``RELAY_REDIS_URL`` is set.

A limited caller gets ``RateLimitedError`` (``RATE_LIMITED``, HTTP 429) with the seconds until the
window lets it in again (``Retry-After``).

Windows are sliding counters (two counters per key: this window's and the last one's, weighted):
a hit costs the same whatever its cost. A moving window keeps one entry per unit of cost — an
upload counted in bytes added millions of entries per file (a 500 MB upload: a list of 500
million, in memory or in Redis), and every hit shifted the whole list.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from relay.errors import RateLimitedError


@dataclass(frozen=True)
class RateRules:
    """Each rule in the ``limits`` notation, e.g. ``"10/minute"``."""

    login_per_address: str = "10/minute"
    failed_logins_per_identifier: str = "20/minute"
    oauth_login_per_address: str = "20/minute"
    uploads_per_caller: str = "30/hour"
    upload_bytes_per_caller: str = "2147483648/hour"
    mutations_per_caller: str = "120/minute"


class RateLimiter:
    def __init__(self, storage: Storage, rules: RateRules, *, prefix: str = "relay") -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {
            name: parse(getattr(rules, name)) for name in RateRules.__dataclass_fields__
        }
        self._prefix = prefix

    @classmethod
    def from_url(cls, redis_url: str | None, rules: RateRules, *, namespace: str) -> RateLimiter:
        """In memory, or in the Redis at ``redis_url`` (``redis://host:port/db``)."""
        storage = MemoryStorage() if redis_url is None else RedisStorage("async+" + redis_url)
        return cls(storage, rules, prefix=namespace)

    async def hit(self, rule: str, key: str, *, cost: int = 1) -> None:
        """Count ``cost`` against ``rule`` for ``key``; raise once the rule's window is full."""
        item = self._items[rule]
        if not await self._limiter.hit(item, self._prefix, rule, key, cost=cost):
            raise RateLimitedError(rule, await self._retry_after(item, rule, key))

    async def check(self, rule: str, key: str) -> None:
        """Raise if ``rule`` is already full for ``key`` (without counting anything)."""
        item = self._items[rule]
        if not await self._limiter.test(item, self._prefix, rule, key):
            raise RateLimitedError(rule, await self._retry_after(item, rule, key))

    async def _retry_after(self, item: RateLimitItem, rule: str, key: str) -> int:
        stats = await self._limiter.get_window_stats(item, self._prefix, rule, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
