"""A kept answer is served while the index stays at its version — but never longer than the
cache's max age: some answers depend on the time too (POPULAR counts the likes of the last seven
days, a window that moves on without any write)."""

from __future__ import annotations

import orjson

from relay.http.response_cache import ResponseCache

POPULAR = {"query": "{ tracks(first: 5, orderBy: {field: POPULAR}) { edges { node { title } } } }"}
BODY = orjson.dumps({"data": {"tracks": {"edges": [{"node": {"title": "Liked"}}]}}})


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_computed_again_once_it_is_older_than_the_max_age() -> None:
    clock = FakeClock()
    cache = ResponseCache(entries=10, entry_bytes=1 << 20, max_age=60, clock=clock)

    def version(_scope: object) -> int:
        return 7  # the index never changes in this test

    first = cache.lookup(POPULAR, version)
    assert first is not None and first.hit is None
    assert cache.keep(first, BODY) is not None
    clock.now += 59.5
    served = cache.lookup(POPULAR, version)
    assert served is not None and served.hit is not None and served.hit.body == BODY
    clock.now += 1  # 60.5 s after it was kept
    stale = cache.lookup(POPULAR, version)
    assert stale is not None and stale.hit is None
    assert cache.keep(stale, BODY) is not None
    fresh = cache.lookup(POPULAR, version)
    assert fresh is not None and fresh.hit is not None
    assert (cache.hits, cache.misses) == (2, 2)


def test_an_answer_is_dropped_at_once_when_the_index_moves() -> None:
    clock = FakeClock()
    cache = ResponseCache(entries=10, entry_bytes=1 << 20, max_age=60, clock=clock)
    at = {"version": 1}
    first = cache.lookup(POPULAR, lambda _scope: at["version"])
    assert first is not None and cache.keep(first, BODY) is not None
    at["version"] = 2
    moved = cache.lookup(POPULAR, lambda _scope: at["version"])
    assert moved is not None and moved.hit is None
