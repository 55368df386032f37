"""Live ingest from ``com.atproto.sync.subscribeRepos`` (a PDS or a relay host).

Each frame is decoded once (libipld). Commits touching no track — most of the network — are
counted and passed over without reading their blocks; the rest are verified and proven
(``TrackCommits``). The changes of consecutive events are applied in one transaction together
with the cursor of the last of them, so a crash or restart resumes with nothing missed and nothing
applied twice. A batch is stored as soon as the stream pauses (``batch_wait``), or when it holds
``batch_changes`` changes or is ``batch_seconds`` old: a quiet stream is applied at once, a busy
one in few transactions.
Forged or unreadable events are dropped and counted, and the consumer keeps going. A missing or
outdated cursor, a ``#sync`` event, or a commit too big to carry its blocks leads to a backfill of
the affected repos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from relay.atproto import stream
from relay.atproto.identity import Identity, IdentityResolver
from relay.atproto.repos import RepoClient
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.sync import (
    AccountHidden,
    AccountRemoved,
    ChainLink,
    Change,
    Cursor,
    HandleChanged,
    SyncStore,
    Upsert,
    removed_tracks,
)
from relay.errors import CommitError, IdentityError, RelayError, UpstreamError
from relay.services.backfill import BackfillRequest
from relay.services.identity_cache import IdentityCache
from relay.services.ingest import ALONGSIDE_PREFIXES, INDEXED_PREFIXES, RecordIngest
from relay.services.track_commits import TrackCommits

log = logging.getLogger(__name__)

Schedule = Callable[[BackfillRequest], object]
OnRemoved = Callable[[Sequence[TrackRow]], Awaitable[None]]


class StreamError(RelayError):
    """The stream said something relay cannot follow (an error frame)."""


@dataclass
class StreamState:
    """One firehose source as ``syncStatus`` shows it: connected or not, since when, and the last
    reason it failed."""

    source: str
    connected: bool = False
    since: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    def connect(self, now: datetime) -> None:
        self.connected, self.since = True, now

    def failed(self, reason: str, now: datetime) -> None:
        if self.connected or self.since is None:
            self.since = now
        self.connected = False
        self.last_error, self.last_error_at = reason, now


@dataclass
class _Batch:
    """Events read but not yet stored: their changes and the cursor of the last of them."""

    changes: list[Change] = field(default_factory=list)
    # Identity refreshes running while later frames are read; their changes join the batch.
    refreshes: dict[str, asyncio.Task[list[Change]]] = field(default_factory=dict)
    artists: set[str] = field(default_factory=set)  # DIDs whose records the batch writes
    links: dict[str, ChainLink] = field(default_factory=dict)  # repos' last verified commits
    seq: int | None = None  # of the last event read
    time: object = None  # its time, as sent (parsed only when stored)
    events: int = 0
    since: float = 0.0  # when the first of them was read (monotonic)
    changes_since: float = 0.0  # when the first change was added

    def note(self, seq: int | None, at: object, changes: list[Change], now: float) -> None:
        if seq is not None:
            if self.seq is None:
                self.since = now
            self.seq, self.time = seq, at
            self.events += 1
        if changes:
            if not self.changes:
                self.changes_since = now
            self.changes += changes
            self.artists.update(c.did for c in changes if isinstance(c, Upsert))

    def cancel(self) -> None:
        for task in self.refreshes.values():
            task.cancel()


def _buffered(socket: ClientConnection) -> bool:
    """Whether a whole message has arrived and waits to be read (in websockets' queue of received
    frames); then no timer is needed to read it. A fragment, or no such queue: the read is timed
    (a peer that stops halfway never holds the consumer)."""
    queue = getattr(getattr(getattr(socket, "recv_messages", None), "frames", None), "queue", None)
    try:
        return bool(queue) and queue[0].fin is True  # type: ignore[index]
    except (TypeError, AttributeError, IndexError):
        return False


class FirehoseConsumer:
    def __init__(
        self,
        url: str,
        *,
        identity: IdentityResolver,
        repos: RepoClient,
        sync: SyncStore,
        ingest: RecordIngest,
        clock: Clock,
        schedule_backfill: Schedule,
        on_removed: OnRemoved | None = None,
        recv_timeout: float = 60.0,
        reconnect_delay: float = 2.0,
        max_reconnect_delay: float = 60.0,
        max_frame_bytes: int = 5 * 1024 * 1024,
        identity_attempts: int = 3,
        identity_retry_seconds: float = 0.5,
        cursor_flush_events: int = 5000,
        cursor_flush_seconds: float = 1.0,
        batch_changes: int = 500,
        batch_seconds: float = 0.25,
        batch_wait: float = 0.002,
        drain_seconds: float = 5.0,
    ) -> None:
        self._cursor_flush_events = cursor_flush_events
        self._cursor_flush_seconds = cursor_flush_seconds
        self._batch_changes = batch_changes
        self._batch_seconds = batch_seconds
        self._batch_wait = batch_wait
        self._drain_seconds = drain_seconds
        self._batch = _Batch()
        self._writing: asyncio.Task[None] | None = None
        self._identity_attempts = identity_attempts
        self._identity_retry_seconds = identity_retry_seconds
        self._recv_timeout = recv_timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._max_frame_bytes = max_frame_bytes
        self.source = url.rstrip("/")
        self._sync = sync
        self._ingest = ingest
        self._clock = clock
        self._schedule_backfill = schedule_backfill
        self._on_removed = on_removed
        self._identities = IdentityCache(identity, clock)
        self._commits = TrackCommits(
            self._identities, ingest, schedule_backfill, stored_link=sync.chain_link
        )
        # Repos relay indexes tracks of: their every commit is verified (the chain).
        self._artists: set[str] = set()
        self._repos = repos
        self._socket: ClientConnection | None = None
        self._stopping = False
        self.state = StreamState(source=self.source)

    @property
    def host(self) -> str:
        """The HTTP origin of the firehose's host (for listRepos)."""
        base = self.source.removesuffix("/xrpc")
        return base.replace("wss://", "https://", 1).replace("ws://", "http://", 1)

    async def run(self) -> None:
        """Consume until stopped, reconnecting from the stored cursor with backoff. Every failure
        to reach, keep or read the stream is logged with the URL and the reason, and shown in
        ``state`` (syncStatus)."""
        self._artists = await self._sync.indexed_dids()
        stored = await self._sync.cursor(self.source)
        if stored is None:
            # Nothing consumed yet: index what already exists, then follow from now on.
            self._schedule_backfill(BackfillRequest(stream_hosts=(self.host,)))
        failures = 0
        while not self._stopping:
            stored = await self._sync.cursor(self.source)
            try:
                await self._follow(None if stored is None else stored.cursor)
                reason = "the stream ended"
            except asyncio.CancelledError:
                raise
            except StreamError as exc:
                reason = exc.message
            except TimeoutError:
                reason = f"no frame for {self._recv_timeout:g}s"
            except InvalidStatus as exc:
                reason = f"refused: HTTP {exc.response.status_code}"
            except ConnectionClosed as exc:
                reason = f"closed: {exc}"
            except (InvalidHandshake, InvalidURI) as exc:
                reason = f"not a websocket endpoint: {exc}"
            except OSError as exc:
                reason = f"unreachable: {exc.strerror or exc}"
            except Exception as exc:  # e.g. the database went away: keep following, from the cursor
                log.exception("firehose %s: applying an event failed", self.source)
                reason = f"applying an event failed: {type(exc).__name__}"
            if self._stopping:
                break
            failures = 1 if self.state.connected else failures + 1
            delay = min(self._reconnect_delay * 2 ** (failures - 1), self._max_reconnect_delay)
            self.state.failed(reason, self._clock.now())
            log.warning("firehose %s: %s; retrying in %.1fs", self.source, reason, delay)
            await asyncio.sleep(delay)

    async def _follow(self, cursor: int | None) -> None:
        url = f"{self.source}/com.atproto.sync.subscribeRepos"
        if cursor is not None:
            url += f"?cursor={cursor}"
        self._batch.cancel()
        self._batch = _Batch()  # whatever was not stored is read again from the stored cursor
        async with connect(
            url, max_size=self._max_frame_bytes, open_timeout=self._recv_timeout, close_timeout=1
        ) as socket:
            self._socket = socket
            try:
                self.state.connect(self._clock.now())
                log.info("firehose %s: connected (cursor %s)", self.source, cursor)
                await self._read(socket)
            finally:
                self._socket = None
                with contextlib.suppress(Exception):  # best effort: it is read again if not
                    async with asyncio.timeout(self._drain_seconds):
                        await self._drain()
                self._batch.cancel()
                if self._writing is not None:
                    self._writing.cancel()
                    self._writing = None

    async def _read(self, socket: ClientConnection) -> None:
        last_frame = time.monotonic()
        while not self._stopping:
            silent_until = last_frame + self._recv_timeout
            try:
                if _buffered(socket):
                    raw = await socket.recv()  # returns at once
                else:
                    wait = min(silent_until, self._due(last_frame)) - time.monotonic()
                    async with asyncio.timeout(wait):
                        raw = await socket.recv()
            except TimeoutError:
                if time.monotonic() >= silent_until:
                    raise
                await self._store()  # nothing more waiting: store what was read
                continue
            last_frame = time.monotonic()
            if isinstance(raw, bytes):
                await self._on_frame(raw)
            if self._full(last_frame):
                await self._store()

    def _due(self, last_frame: float) -> float:
        """When, if no further frame comes, what was read is stored (monotonic): changes as soon
        as the stream pauses, a cursor alone after a while."""
        batch = self._batch
        if batch.changes:
            return last_frame + self._batch_wait
        if batch.seq is not None:
            return batch.since + self._cursor_flush_seconds
        return float("inf")

    def _full(self, now: float) -> bool:
        """Whether a busy stream's batch is stored now: by its changes' count or age, or — for a
        cursor alone — after many events or a while. Replaying that many events after a crash is
        harmless; a write per event is not."""
        batch = self._batch
        if batch.changes:
            return (
                len(batch.changes) >= self._batch_changes
                or now - batch.changes_since >= self._batch_seconds
            )
        return batch.seq is not None and (
            batch.events >= self._cursor_flush_events
            or now - batch.since >= self._cursor_flush_seconds
        )

    async def stop(self) -> None:
        """Close the stream; ``run`` returns instead of reconnecting."""
        self._stopping = True
        if self._socket is not None:
            await self._socket.close()

    async def _store(self) -> None:
        """Hand what was read to the writer — one transaction of its changes and cursor — and
        go on reading while it is written. One write at a time, in order: a write that fails
        ends the connection before a later one starts, so the stored cursor never passes it."""
        batch, self._batch = self._batch, _Batch()
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing
        if batch.changes or batch.seq is not None or batch.refreshes:
            self._writing = asyncio.create_task(self._write(batch), name="relay-firehose-write")

    async def _drain(self) -> None:
        """Store what was read and wait for it to be written."""
        await self._store()
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def _write(self, batch: _Batch) -> None:
        for refresh in batch.refreshes.values():
            batch.changes += await refresh
        cursor = None
        if batch.seq is not None:
            cursor = Cursor(self.source, batch.seq, stream.event_time(batch.time))
        if not batch.changes and cursor is None:
            return
        applied = await self._sync.apply(
            batch.changes, now=self._clock.now(), cursor=cursor, links=list(batch.links.values())
        )
        if cursor is not None:  # counted once stored (syncStatus never runs ahead of the cursor)
            self._ingest.stats.saw_events(batch.events, cursor.event_time)
        self._artists.update(c.did for c in batch.changes if isinstance(c, Upsert))
        if not applied:
            return
        await self._ingest.announce(applied)
        removed = removed_tracks(applied)
        if removed and self._on_removed is not None:
            await self._on_removed(removed)

    async def _on_frame(self, raw: bytes) -> None:
        try:
            header, body = stream.decode(raw)
        except ValueError:
            self._ingest.stats.drop("malformed")
            return
        if (
            header.get("t") == "#commit"
            and header.get("op") == 1
            and isinstance(body.get("seq"), int)
            and not stream.touches(body, INDEXED_PREFIXES + ALONGSIDE_PREFIXES)
            and body.get("repo") not in self._artists
        ):
            # The fast path for most of the network: a commit touching no indexed collection (nor
            # a profile), of a repo with none, is counted and its seq noted, without reading its
            # blocks.
            self._batch.note(body["seq"], body.get("time"), [], time.monotonic())
            return
        event = stream.parse(header, body)
        if isinstance(event, stream.Malformed):
            self._ingest.stats.drop("malformed")
            log.info("firehose %s: malformed frame: %s", self.source, event.reason)
            return
        if isinstance(event, stream.Error):
            if event.error == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(stream_hosts=(self.host,)))
            raise StreamError(f"error frame: {event.error:.256} {event.message or '':.512}")
        if isinstance(event, stream.Info):
            if event.name == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(stream_hosts=(self.host,)))
            return
        changes = await self._checked(event, lambda: self._changes(event))
        self._batch.note(event.seq, body.get("time"), changes, time.monotonic())

    async def _checked(
        self,
        event: stream.Commit | stream.Identity | stream.Account | stream.Sync | stream.Other,
        produce: Callable[[], Awaitable[list[Change]]],
    ) -> list[Change]:
        """The event's changes, or none when it is deliberately dropped (counted, logged). An
        identity service that fails is asked again a few times; if it keeps failing, the event
        is dropped and its repo scheduled for a backfill, which reads it once the service is
        back — the stream is not held up by one unreachable DID document."""
        seq = event.seq
        for attempt in range(self._identity_attempts):
            try:
                return await produce()
            except CommitError as exc:
                self._ingest.stats.drop(exc.reason)
                log.warning("dropped firehose event %s: %s", seq, exc)
                return []
            except UpstreamError as exc:
                if attempt + 1 < self._identity_attempts:
                    await asyncio.sleep(self._identity_retry_seconds * 2**attempt)
                    continue
                self._ingest.stats.drop("identity_unavailable")
                log.warning("firehose event %s: %s; its repo will be backfilled", seq, exc)
                repo = (
                    event.repo if isinstance(event, stream.Commit) else getattr(event, "did", None)
                )
                if isinstance(repo, str):
                    self._schedule_backfill(BackfillRequest(dids=(repo,)))
            except RelayError as exc:
                self._ingest.stats.drop("unverifiable")
                log.warning("could not verify firehose event %s: %s", seq, exc.message)
                return []
        return []

    async def _changes(
        self, event: stream.Commit | stream.Identity | stream.Account | stream.Sync | stream.Other
    ) -> list[Change]:
        if isinstance(event, stream.Commit):
            artist = event.repo in self._artists
            if not artist and any(op.path.startswith(ALONGSIDE_PREFIXES) for op in event.ops):
                # A profile commit (rare on the network): read if relay indexes the repo's
                # records — indexed since this consumer started, e.g. by relay's own writes.
                artist = await self._known(event.repo)
            changes = await self._commits.changes(event, artist=artist)
            link = self._commits.chain.last(event.repo)
            if link is not None:  # kept with the cursor of the batch that verified it
                self._batch.links[event.repo] = ChainLink(event.repo, link.rev, link.data)
            if not artist and any(op.path.startswith(INDEXED_PREFIXES) for op in event.ops):
                self._artists.add(event.repo)  # verified: its chain starts here
            return changes
        if isinstance(event, stream.Identity):
            if not await self._known(event.did):
                self._identities.forget(event.did)  # read afresh if ever needed
            elif event.did not in self._batch.refreshes:
                # The handle shown on its tracks (and its key, PDS): read while the stream goes on.
                self._batch.refreshes[event.did] = asyncio.create_task(
                    self._refresh(event), name="relay-identity-refresh"
                )
            return []
        if isinstance(event, stream.Account):
            if not await self._known(event.did):
                return []  # no track of theirs to hide, show or remove
            # The event is not signed: what it says is confirmed where the account lives.
            status = await self._account_status(event.did)
            if event.status == "deleted" and not event.active:
                if status == "deleted":
                    return [AccountRemoved(event.did)]
                self._ingest.stats.drop("unconfirmed_deletion")
                log.warning("firehose: %s reported deleted, but its PDS has it", event.did)
                return []
            if event.active != (status == "active"):
                self._ingest.stats.drop("unconfirmed_account_status")
                log.warning("firehose: %s reported %s, but its PDS says %s", event.did,
                            "active" if event.active else event.status, status)  # fmt: skip
                return []
            return [AccountHidden(event.did, hidden=not event.active)]
        if isinstance(event, stream.Sync):
            if self._commits.chain.stale(event.did, event.rev):
                return []  # a state older than one verified since (a replay)
            self._schedule_backfill(BackfillRequest(dids=(event.did,)))
        return []

    async def _known(self, did: str) -> bool:
        """Whether relay indexes tracks of ``did`` (or is about to): most identity and account
        events on the network are about others, and cost one index lookup at most."""
        if did in self._artists or did in self._batch.artists:
            return True
        if await self._sync.has_records(did):  # indexed by a backfill meanwhile
            self._artists.add(did)
            return True
        return False

    async def _refresh(self, event: stream.Identity) -> list[Change]:
        async def handle() -> list[Change]:
            identity = await self._identity_of(event.did, refresh=True)
            return [HandleChanged(event.did, identity.handle, identity.pds_url)]

        return await self._checked(event, handle)

    async def _account_status(self, did: str) -> str:
        """What the account's PDS says of its repo (``deleted`` when its DID no longer
        resolves)."""
        try:
            identity = await self._identity_of(did, refresh=True)
        except IdentityError:
            return "deleted"
        return await self._repos.repo_status(identity.pds_url, did)

    async def _identity_of(self, did: str, *, refresh: bool = False) -> Identity:
        return await self._identities.get(did, refresh=refresh)
