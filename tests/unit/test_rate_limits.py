"""Rate limits counted in bytes cost the same to keep as any other: an upload's size is a cost,
not that many entries (a moving window stored one per byte: a 500 MB upload was a list of 500
million in memory, or in Redis). Here 50 MB: a regression shows as 400 MB kept, not 4 GB."""

from __future__ import annotations

import tracemalloc

import pytest
from limits.aio.storage import MemoryStorage

from relay.errors import RateLimitedError
from relay.services.rate_limits import RateLimiter, RateRules


async def test_a_huge_cost_is_counted_without_an_entry_per_unit() -> None:
    limiter = RateLimiter(MemoryStorage(), RateRules(upload_bytes_per_caller="200000000/hour"))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await limiter.hit("upload_bytes_per_caller", "did:plc:alice", cost=50_000_000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000, f"{grown} bytes kept for one hit"
    await limiter.hit("upload_bytes_per_caller", "did:plc:alice", cost=140_000_000)
    with pytest.raises(RateLimitedError) as refused:
        await limiter.hit("upload_bytes_per_caller", "did:plc:alice", cost=20_000_000)
    assert refused.value.retry_after >= 1
    # Another caller's budget is their own.
    await limiter.hit("upload_bytes_per_caller", "did:plc:bob", cost=190_000_000)
