"""A least-recently-used map bounded by entry count and by total size (what callers count as
each value's size, e.g. its bytes): for what outside input fills, which a count alone does not
bound — a thousand 1 MiB documents are a gigabyte."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLru(Generic[K, V]):
    def __init__(self, *, entries: int, total: int) -> None:
        self._max_entries = entries
        self._max_total = total
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._total = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    @property
    def total(self) -> int:
        return self._total

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or None."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` as ``size`` of the total, dropping the least recently used until both
        bounds hold (a value larger than the whole total is not kept)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._total -= old[1]
        if size > self._max_total or self._max_entries <= 0:
            return
        self._items[key] = (value, size)
        self._total += size
        while len(self._items) > self._max_entries or self._total > self._max_total:
            _, (_, dropped) = self._items.popitem(last=False)
            self._total -= dropped
