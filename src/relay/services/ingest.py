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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from relay import jsonc
from relay.atproto.lexicon import LexiconCatalog
from relay.atproto.lexicon_checks import is_cid
from relay.atproto.records import (
    LIKE_NSID,
    LIST_NSID,
    PROFILE_NSID,
    TRACK_NSID,
    AtUri,
    LikeRecord,
    ListRecord,
    ProfileRecord,
    TrackRecord,
)
from relay.atproto.tid import is_tid
from relay.clock import Clock
from relay.db.like_rows import LikeApplied, LikeUpsert
from relay.db.list_rows import ListApplied, ListUpsert
from relay.db.profile_rows import ProfileUpsert
from relay.db.sync import AnyApplied, Applied, TrackUpsert, Upsert
from relay.errors import RecordValidationError
from relay.services.events import EventBus
from relay.services.views import AnyEvent, RecordEvent, TrackEvent, TrackView

# Record keys of app.relay.track are TIDs ("key": "tid"); revisions are TIDs too.
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]+\Z")
MAX_DID_LENGTH = 256  # the column; did:plc is 32, a did:web host at most 261 (refused)
MAX_GRAPHQL_INT = 2**31 - 1
MAX_HOST_LENGTH = 253
MAX_CREATED_AT_LENGTH = 64
MAX_CID_LENGTH = 128  # the column
MAX_LIST_BYTES = 160 * 1024


def _web_url(value: str) -> bool:
    """An http(s) URL with a host that fits the column (what a browser may be pointed at)."""
    try:
        url = urlsplit(value)  # the same parse as the row's audio_host (kept by urlsplit's cache)
        host = url.hostname or ""
    except ValueError:  # e.g. a malformed IPv6 literal
        return False
    return url.scheme in ("http", "https") and bool(host) and len(host) <= MAX_HOST_LENGTH


def key_poison(*, did: str, rkey: str, rev: str | None, created_at: str) -> str | None:
    """Why a record of any indexed collection cannot be indexed by its place (its repo, key and
    revision) or its ``createdAt`` length (the drop counter's label), or None."""
    if len(did) > MAX_DID_LENGTH or not _DID.match(did):
        return "bad_did"
    if not is_tid(rkey):  # every indexed collection's records are keyed by TIDs
        return "bad_rkey"
    if rev is not None and not is_tid(rev):
        return "bad_rev"
    if len(created_at) > MAX_CREATED_AT_LENGTH:
        return "bad_created_at"
    return None


def poison_reason(*, did: str, rkey: str, rev: str | None, record: TrackRecord) -> str | None:
    """Why an otherwise valid track record cannot be indexed (the drop counter's label), or None."""
    if (
        reason := key_poison(did=did, rkey=rkey, rev=rev, created_at=record.created_at)
    ) is not None:
        return reason
    if not _web_url(record.audio_url):
        return "bad_audio_url"
    if record.image_url is not None and not _web_url(record.image_url):
        return "bad_image_url"
    if record.duration is not None and not 0 <= record.duration <= MAX_GRAPHQL_INT:
        return "bad_duration"
    return None


def like_poison(*, did: str, rkey: str, rev: str | None, record: LikeRecord) -> str | None:
    """Why an otherwise valid like cannot be indexed: its place, or a subject that is not an
    ``app.relay.track`` record's URI (a like of a track not indexed is kept; of a post is not)."""
    if (
        reason := key_poison(did=did, rkey=rkey, rev=rev, created_at=record.created_at)
    ) is not None:
        return reason
    if _track_ref_poison(record.subject.uri, record.subject.cid):
        return "bad_subject"
    return None


def _track_ref_poison(uri: str, cid: str) -> bool:
    """Whether a strongRef cannot name an ``app.relay.track`` record the index could hold."""
    try:
        ref = AtUri.parse(uri)
    except ValueError:
        return True
    return (
        ref.collection != TRACK_NSID
        or len(ref.did) > MAX_DID_LENGTH
        or not _DID.match(ref.did)
        or not is_tid(ref.rkey)
        or len(cid) > MAX_CID_LENGTH
    )


def list_poison(*, did: str, rkey: str, rev: str | None, record: ListRecord) -> str | None:
    """Why an otherwise valid list cannot be indexed: its place, an item that is not a track's
    strongRef, or artwork that is not a web URL."""
    if (
        reason := key_poison(did=did, rkey=rkey, rev=rev, created_at=record.created_at)
    ) is not None:
        return reason
    if any(_track_ref_poison(item.uri, item.cid) for item in record.items):
        return "bad_list_item"
    if record.image_url is not None and not _web_url(record.image_url):
        return "bad_image_url"
    if record.updated_at is not None and len(record.updated_at) > MAX_CREATED_AT_LENGTH:
        return "bad_created_at"
    return None


@dataclass(frozen=True)
class RecordPlace:
    """Where a record from the network is: its repo, key, CID, revision (and the repo's handle
    and PDS, as its DID document says)."""

    did: str
    rkey: str
    cid: str
    rev: str | None
    handle: str | None
    pds_url: str | None = None


def _track(lexicons: LexiconCatalog, at: RecordPlace, value: object) -> Upsert | str:
    record = TrackRecord.from_json(value, lexicons)
    reason = poison_reason(did=at.did, rkey=at.rkey, rev=at.rev, record=record)
    if reason is not None:
        return reason
    return TrackUpsert(
        did=at.did, rkey=at.rkey, cid=at.cid, rev=at.rev, record=record, handle=at.handle
    )


def _like(lexicons: LexiconCatalog, at: RecordPlace, value: object) -> Upsert | str:
    record = LikeRecord.from_json(value, lexicons)
    reason = like_poison(did=at.did, rkey=at.rkey, rev=at.rev, record=record)
    if reason is not None:
        return reason
    return LikeUpsert(
        did=at.did, rkey=at.rkey, cid=at.cid, rev=at.rev, record=record, handle=at.handle
    )


def _list(lexicons: LexiconCatalog, at: RecordPlace, value: object) -> Upsert | str:
    record = ListRecord.from_json(value, lexicons)
    reason = list_poison(did=at.did, rkey=at.rkey, rev=at.rev, record=record)
    if reason is not None:
        return reason
    return ListUpsert(
        did=at.did, rkey=at.rkey, cid=at.cid, rev=at.rev, record=record, handle=at.handle
    )


def _profile(lexicons: LexiconCatalog, at: RecordPlace, value: object) -> Upsert | str:
    record = ProfileRecord.from_json(value, lexicons)
    if len(at.did) > MAX_DID_LENGTH or not _DID.match(at.did):
        return "bad_did"
    if at.rkey != "self":  # the lexicon's key: literal:self
        return "bad_rkey"
    if at.rev is not None and not is_tid(at.rev):
        return "bad_rev"
    return ProfileUpsert(
        did=at.did, rkey=at.rkey, cid=at.cid, rev=at.rev, record=record, pds_url=at.pds_url
    )


@dataclass(frozen=True)
class Collection:
    """A collection relay indexes: its NSID and how a record of it becomes an index change —
    validated against its lexicon, then checked for what the index needs (or the drop reason)."""

    nsid: str
    read: Callable[[LexiconCatalog, RecordPlace, object], Upsert | str]
    # Its records' JSON size bound, when not ``RecordBounds.max_bytes`` (a list of 500 strongRefs
    # and a long description is ~100 KB).
    max_bytes: int | None = None
    # Indexed only for repos relay indexes other records of (a profile: only artists' and
    # listeners' — never found on its own, never the reason to read a repo).
    alongside: bool = False

    @property
    def prefix(self) -> str:
        """Its records' repo paths start with this."""
        return f"{self.nsid}/"


# Every collection the index holds, and so every collection the firehose proves and a backfill
# lists. One path for all of them: each adds only how its records map to its table.
COLLECTIONS: Mapping[str, Collection] = {
    c.nsid: c
    for c in (
        Collection(TRACK_NSID, _track),
        Collection(LIKE_NSID, _like),
        Collection(LIST_NSID, _list, max_bytes=MAX_LIST_BYTES),
        Collection(PROFILE_NSID, _profile, alongside=True),
    )
}
# The collections that make a repo one relay indexes (what the firehose's fast path looks for,
# what relays are asked for by collection).
INDEXED_PREFIXES: tuple[str, ...] = tuple(c.prefix for c in COLLECTIONS.values() if not c.alongside)
# Also read for a repo relay indexes.
ALONGSIDE_PREFIXES: tuple[str, ...] = tuple(c.prefix for c in COLLECTIONS.values() if c.alongside)


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


def events_of(applied: Sequence[AnyApplied]) -> list[AnyEvent]:
    """What subscribers see of applied changes: nothing of hidden accounts' tracks."""
    events: list[AnyEvent] = []
    for a in applied:
        if isinstance(a, Applied):
            if not a.row.hidden:
                events.append(TrackEvent(a.kind, TrackView.of(a.row)))
        elif isinstance(a, LikeApplied):
            events.append(RecordEvent(a.kind, LIKE_NSID, a.uri, a.liker_did, a.subject_uri))
        elif isinstance(a, ListApplied):
            events.append(RecordEvent(a.kind, LIST_NSID, a.uri, a.owner_did))
    return events


async def publish_applied(events: EventBus, applied: Sequence[AnyApplied]) -> None:
    """Tell subscribers of applied changes, if any are listening (a backfill with no subscriber
    builds no events; subscribers see nothing of hidden accounts)."""
    if applied and events.listening:
        await events.publish(*events_of(applied))


class RecordIngest:
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
        self,
        *,
        did: str,
        rkey: str,
        cid: str,
        rev: str | None,
        value: Any,
        handle: str | None,
        collection: str = TRACK_NSID,
        pds_url: str | None = None,
    ) -> Upsert | None:
        """The change for one record of an indexed collection, or None (counted) when the record
        is not acceptable."""
        kind = COLLECTIONS[collection]
        if not is_cid(cid):  # a listRecords page names it; the index keeps it (at most 128)
            self.stats.drop("bad_cid")
            return None
        size = jsonc.size(value)
        if size is None or size > (kind.max_bytes or self._bounds.max_bytes):
            self.stats.drop("too_large")
            return None
        try:
            place = RecordPlace(did, rkey, cid, rev, handle, pds_url)
            change = kind.read(self._lexicons, place, value)
        except RecordValidationError:
            self.stats.drop("invalid_record")
            return None
        if isinstance(change, str):
            self.stats.drop(change)
            return None
        created = change.record.created_at_time
        if created is not None and created - self._clock.now() > self._bounds.max_future:
            self.stats.drop("future_created_at")
            return None
        return change

    async def announce(self, applied: Sequence[AnyApplied]) -> None:
        self.stats.applied += len(applied)
        await publish_applied(self._events, applied)
