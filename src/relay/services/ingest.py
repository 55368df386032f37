"""Turning records from the network into index changes — only after they pass every check.

Checks: the lexicon (``lexicons/``), a size bound, a ``createdAt`` not far in the future, and
everything the index's columns and the GraphQL types need that the lexicon leaves open (record key
and revision syntax, DID length, an http(s) ``audioUrl`` and ``imageUrl`` with a real host,
``duration`` within a GraphQL ``Int``). What fails is dropped and counted by reason
(``SyncStats``): one poison record never fails the write of the honest ones around it, and
nothing unvalidated reaches the index.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from relay import jsonc
from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.records import TrackRecord
from relay.atproto.tid import is_tid
from relay.clock import Clock
from relay.db.sync import Applied, RecordUpsert
from relay.errors import RecordValidationError
from relay.services.events import EventBus
from relay.services.views import TrackEvent, TrackView

# Record keys of app.relay.track are TIDs ("key": "tid"); revisions are TIDs too.
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]+$")
MAX_DID_LENGTH = 256  # the column; did:plc is 32, a did:web host at most 261 (refused)
MAX_GRAPHQL_INT = 2**31 - 1
MAX_HOST_LENGTH = 253
MAX_CREATED_AT_LENGTH = 64


def _web_url(value: str) -> bool:
    """An http(s) URL with a host that fits the column (what a browser may be pointed at)."""
    try:
        url = urlparse(value)
        host = url.hostname or ""
    except ValueError:  # e.g. a malformed IPv6 literal
        return False
    return url.scheme in ("http", "https") and bool(host) and len(host) <= MAX_HOST_LENGTH


def poison_reason(*, did: str, rkey: str, rev: str | None, record: TrackRecord) -> str | None:
    """Why an otherwise valid record cannot be indexed (the drop counter's label), or None."""
    if len(did) > MAX_DID_LENGTH or not _DID.match(did):
        return "bad_did"
    if not is_tid(rkey):
        return "bad_rkey"
    if rev is not None and not is_tid(rev):
        return "bad_rev"
    if not _web_url(record.audio_url):
        return "bad_audio_url"
    if record.image_url is not None and not _web_url(record.image_url):
        return "bad_image_url"
    if record.duration is not None and not 0 <= record.duration <= MAX_GRAPHQL_INT:
        return "bad_duration"
    if len(record.created_at) > MAX_CREATED_AT_LENGTH:
        return "bad_created_at"
    return None


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
    gaps: int = 0  # commits that did not follow the last one verified (the repo was read again)
    dropped: Counter[str] = field(default_factory=Counter)
    last_event_time: datetime | None = None
    _recent: deque[list[int]] = field(default_factory=lambda: deque(maxlen=120))

    def saw_events(self, count: int, event_time: datetime | None) -> None:
        """``count`` events read, the last of them stamped ``event_time``."""
        self.events += count
        second = int(time.monotonic())
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1][1] += count
        else:
            self._recent.append([second, count])
        if event_time is not None:
            self.last_event_time = event_time

    def drop(self, reason: str) -> None:
        self.dropped[reason] += 1

    def events_per_second(self, window: int = 60) -> float:
        """The mean rate over the last ``window`` seconds (per-second buckets, so any rate)."""
        cutoff = int(time.monotonic()) - window
        return sum(count for second, count in self._recent if second > cutoff) / window


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
        size = jsonc.size(value)
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
        if (reason := poison_reason(did=did, rkey=rkey, rev=rev, record=record)) is not None:
            self.stats.drop(reason)
            return None
        return RecordUpsert(did=did, rkey=rkey, cid=cid, rev=rev, record=record, handle=handle)

    async def announce(self, applied: list[Applied]) -> None:
        self.stats.applied += len(applied)
        if not self._events.listening:
            return  # a backfill with no subscriber builds no events
        # Subscribers see only what queries would show: nothing of hidden accounts.
        await self._events.publish(
            *(TrackEvent(a.kind, TrackView.of(a.row)) for a in applied if not a.row.hidden)
        )
