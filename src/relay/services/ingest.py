"""Turning records from the network into index changes — only after they pass every check.

Checks: the lexicon (``lexicons/``), a size bound, and a ``createdAt`` not far in the future. What
fails is dropped and counted by reason (``SyncStats``); nothing unvalidated reaches the index.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.records import TrackRecord
from relay.clock import Clock
from relay.db.sync import Applied, RecordUpsert
from relay.errors import RecordValidationError
from relay.services.events import EventBus
from relay.services.views import TrackEvent, TrackView


@dataclass(frozen=True)
class RecordBounds:
    """What a record from the network may be: its JSON size, how far ahead its ``createdAt``."""

    max_bytes: int = 16 * 1024
    max_future: timedelta = timedelta(minutes=10)


@dataclass
class SyncStats:
    """Counters for ``syncStatus`` and logs: events seen, drops by reason, recent event rate."""

    events: int = 0
    applied: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    last_event_time: datetime | None = None
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def saw_event(self, event_time: datetime | None) -> None:
        self.events += 1
        self._recent.append(time.monotonic())
        if event_time is not None:
            self.last_event_time = event_time

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def events_per_second(self, window: float = 60.0) -> float:
        cutoff = time.monotonic() - window
        return sum(1 for moment in self._recent if moment >= cutoff) / window


def _json_size(value: Any) -> int | None:
    """Bytes of ``value`` as compact JSON; None when it is not JSON at all."""
    try:
        return len(json.dumps(value, separators=(",", ":"), default=str).encode())
    except (TypeError, ValueError):
        return None


class TrackIngest:
    def __init__(
        self,
        *,
        lexicons: LexiconCatalog,
        clock: Clock,
        stats: SyncStats,
        events: EventBus,
        bounds: RecordBounds,
    ) -> None:
        self._lexicons = lexicons
        self._bounds = bounds
        self._clock = clock
        self.stats = stats
        self._events = events

    def upsert(
        self, *, did: str, rkey: str, cid: str, rev: str | None, value: Any, handle: str | None
    ) -> RecordUpsert | None:
        """The change for one record, or None (counted) when the record is not acceptable."""
        size = _json_size(value)
        if size is None or size > self._bounds.max_bytes:
            self.stats.drop("too_large")
            return None
        try:
            record = TrackRecord.from_json(value, self._lexicons)
        except RecordValidationError:
            self.stats.drop("invalid_record")
            return None
        if record.created_at_time - self._clock.now() > self._bounds.max_future:
            self.stats.drop("future_created_at")
            return None
        return RecordUpsert(did=did, rkey=rkey, cid=cid, rev=rev, record=record, handle=handle)

    async def announce(self, applied: list[Applied]) -> None:
        self.stats.applied += len(applied)
        # Subscribers see only what queries would show: nothing of hidden accounts.
        await self._events.publish(
            *(TrackEvent(a.kind, TrackView.of(a.row)) for a in applied if not a.row.hidden)
        )
