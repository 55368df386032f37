"""BoundedLru: the least recently used go first, when either bound — entries or total size — is
passed; a value larger than the total is not kept."""

from __future__ import annotations

from relay.lru import BoundedLru


def test_count_bound_drops_the_least_recently_used() -> None:
    lru: BoundedLru[str, int] = BoundedLru(entries=2, total=1_000)
    lru.put("a", 1, 1)
    lru.put("b", 2, 1)
    assert lru.get("a") == 1  # now the most recently used
    lru.put("c", 3, 1)
    assert lru.get("b") is None
    assert (lru.get("a"), lru.get("c")) == (1, 3)


def test_size_bound_holds_whatever_the_count() -> None:
    lru: BoundedLru[str, bytes] = BoundedLru(entries=1_000, total=10)
    for name in "abcdef":
        lru.put(name, b"xxxx", 4)
    assert len(lru) == 2
    assert lru.total == 8
    assert lru.get("f") == b"xxxx"
    lru.put("f", b"x", 1)  # a replaced value counts once, at its new size
    assert lru.total == 5
    lru.put("huge", b"x" * 11, 11)
    assert "huge" not in lru
    assert lru.total == 5
