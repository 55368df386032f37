"""The firehose's identity cache stays bounded and forgets: at network scale it would otherwise
hold every DID ever seen, and a rotated key must be picked up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relay.atproto.identity import Identity
from relay.services.identity_cache import IdentityCache


class ManualClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class FakeCountingResolver:
    """Answers every DID at once and counts the lookups (the cache is what is under test)."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def resolve(self, identifier: str) -> Identity:
        self.lookups.append(identifier)
        return Identity(identifier, None, "https://pds.example", f"key-{len(self.lookups)}")

    async def aclose(self) -> None:
        pass


async def test_entries_are_reused_then_expire() -> None:
    resolver, clock = FakeCountingResolver(), ManualClock()
    cache = IdentityCache(resolver, clock, ttl=timedelta(minutes=10))
    first = await cache.get("did:plc:a")
    assert await cache.get("did:plc:a") == first
    assert resolver.lookups == ["did:plc:a"]
    assert (await cache.get("did:plc:a", refresh=True)).signing_key == "key-2"
    clock.at += timedelta(minutes=11)
    assert (await cache.get("did:plc:a")).signing_key == "key-3"


async def test_the_least_recently_used_go_first() -> None:
    resolver = FakeCountingResolver()
    cache = IdentityCache(resolver, ManualClock(), max_entries=100)
    for i in range(1000):
        await cache.get(f"did:plc:{i}")
        await cache.get("did:plc:hot")
    assert len(cache) == 100
    assert resolver.lookups.count("did:plc:hot") == 1, "a DID in constant use is never evicted"
    await cache.get("did:plc:0")
    assert resolver.lookups.count("did:plc:0") == 2
