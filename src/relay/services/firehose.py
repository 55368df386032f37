"""Live ingest from ``com.atproto.sync.subscribeRepos`` (a PDS or a relay host).

Each event is verified and turned into index changes that are applied in one transaction with the
new cursor, so a crash or restart resumes with nothing missed and nothing applied twice. Commits
must be signed by the repo's key (from its DID document) and claim their own repo; forged or
unreadable events are dropped and counted, and the consumer keeps going. A missing or outdated
cursor, a ``#sync`` event, or a commit too big to carry its blocks leads to a backfill of the
affected repos.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import libipld
from atproto_client import models
from atproto_firehose import parse_subscribe_repos_message
from atproto_subscription.frames import ErrorFrame, Frame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from relay.atproto.identity import Identity, IdentityResolver
from relay.atproto.records import TRACK_NSID
from relay.atproto.repos import RepoClient
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.sync import (
    AccountHidden,
    AccountRemoved,
    Change,
    Cursor,
    HandleChanged,
    SyncStore,
)
from relay.domain import TrackEventKind
from relay.errors import CommitError, IdentityError, RelayError, UpstreamError
from relay.services.backfill import BackfillRequest
from relay.services.identity_cache import IdentityCache
from relay.services.ingest import TrackIngest
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


_TRACK_PREFIX = f"{TRACK_NSID}/"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class FirehoseConsumer:
    def __init__(
        self,
        url: str,
        *,
        identity: IdentityResolver,
        repos: RepoClient,
        sync: SyncStore,
        ingest: TrackIngest,
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
    ) -> None:
        self._cursor_flush_events = cursor_flush_events
        self._cursor_flush_seconds = cursor_flush_seconds
        self._pending: Cursor | None = None
        self._pending_count = 0
        self._pending_since = 0.0
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
        self._commits = TrackCommits(self._identities, ingest, schedule_backfill)
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
        async with connect(
            url, max_size=self._max_frame_bytes, open_timeout=self._recv_timeout, close_timeout=1
        ) as socket:
            self._socket = socket
            try:
                self.state.connect(self._clock.now())
                log.info("firehose %s: connected (cursor %s)", self.source, cursor)
                while not self._stopping:
                    async with asyncio.timeout(self._recv_timeout):
                        raw = await socket.recv()
                    if isinstance(raw, bytes):
                        await self._on_frame(raw)
            finally:
                self._socket = None
                with contextlib.suppress(Exception):  # best effort: a replay is harmless
                    await self._flush_cursor()

    async def stop(self) -> None:
        """Close the stream; ``run`` returns instead of reconnecting."""
        self._stopping = True
        if self._socket is not None:
            await self._socket.close()

    async def _on_frame(self, raw: bytes) -> None:
        if await self._skipped(raw):
            return
        try:
            frame = Frame.from_bytes(raw)
        except Exception:
            self._ingest.stats.drop("malformed")
            return
        if isinstance(frame, ErrorFrame):
            if frame.body.error == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(stream_hosts=(self.host,)))
            raise StreamError(f"error frame: {frame.body.error} {frame.body.message or ''}")
        await self._on_message(frame)

    async def _skipped(self, raw: bytes) -> bool:
        """The fast path for most of the network: a commit touching no track is counted and its
        seq noted, without building the SDK's models or reading its blocks."""
        try:
            header, body = libipld.decode_dag_cbor_multi(raw)
        except Exception:
            return False  # the full path names what is wrong with it
        if header.get("t") != "#commit" or header.get("op") != 1 or not isinstance(body, dict):
            return False
        ops, seq = body.get("ops"), body.get("seq")
        if not isinstance(ops, list) or not isinstance(seq, int):
            return False
        for op in ops:
            path = op.get("path") if isinstance(op, dict) else None
            if not isinstance(path, str) or path.startswith(_TRACK_PREFIX):
                return False
        event_time = _time(body.get("time")) if isinstance(body.get("time"), str) else None
        self._ingest.stats.saw_event(event_time)
        await self._advance(Cursor(self.source, seq, event_time))
        return True

    async def _advance(self, cursor: Cursor | None) -> None:
        """Note ``cursor`` for an event that changed nothing; it is written with the next change,
        or after ``cursor_flush_events`` events or ``cursor_flush_seconds`` — replaying that many
        events after a crash is harmless, a write per event is not."""
        if cursor is None:
            return
        now = time.monotonic()
        if self._pending is None:
            self._pending_since = now
        self._pending, self._pending_count = cursor, self._pending_count + 1
        if (
            self._pending_count >= self._cursor_flush_events
            or now - self._pending_since >= self._cursor_flush_seconds
        ):
            await self._flush_cursor()

    async def _flush_cursor(self) -> None:
        if self._pending is None:
            return
        cursor, self._pending, self._pending_count = self._pending, None, 0
        await self._sync.apply([], now=self._clock.now(), cursor=cursor)

    async def _on_message(self, frame: Any) -> None:
        try:
            message = parse_subscribe_repos_message(frame)
        except Exception:
            self._ingest.stats.drop("malformed")
            return
        seq = getattr(message, "seq", None)
        event_time = _time(getattr(message, "time", None))
        self._ingest.stats.saw_event(event_time)
        changes = await self._checked_changes(message, seq)
        cursor = Cursor(self.source, seq, event_time) if isinstance(seq, int) else None
        if not changes:
            await self._advance(cursor)
            return
        applied = await self._sync.apply(changes, now=self._clock.now(), cursor=cursor)
        if cursor is not None:
            self._pending, self._pending_count = None, 0
        await self._ingest.announce(applied)
        removed = [change.row for change in applied if change.kind is TrackEventKind.DELETED]
        if removed and self._on_removed is not None:
            await self._on_removed(removed)

    async def _checked_changes(self, message: Any, seq: object) -> list[Change]:
        """The event's changes, or none when it is deliberately dropped (counted, logged). An
        identity service that fails is asked again a few times; if it keeps failing, the event
        is dropped and its repo scheduled for a backfill, which reads it once the service is
        back — the stream is not held up by one unreachable DID document."""
        for attempt in range(self._identity_attempts):
            try:
                return await self._changes(message)
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
                repo = getattr(message, "repo", None) or getattr(message, "did", None)
                if isinstance(repo, str):
                    self._schedule_backfill(BackfillRequest(dids=(repo,)))
            except RelayError as exc:
                self._ingest.stats.drop("unverifiable")
                log.warning("could not verify firehose event %s: %s", seq, exc.message)
                return []
        return []

    async def _changes(self, message: Any) -> list[Change]:
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Commit):
            return await self._commits.changes(message)
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Identity):
            identity = await self._identity_of(message.did, refresh=True)
            return [HandleChanged(message.did, identity.handle)]
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Account):
            if message.active:
                return [AccountHidden(message.did, hidden=False)]
            if message.status == "deleted":
                # The event is not signed: the deletion is confirmed where the account lives.
                if await self._confirmed_deleted(message.did):
                    return [AccountRemoved(message.did)]
                self._ingest.stats.drop("unconfirmed_deletion")
                log.warning("firehose: %s reported deleted, but its PDS has it", message.did)
                return []
            return [AccountHidden(message.did, hidden=True)]
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Sync):
            self._schedule_backfill(BackfillRequest(dids=(message.did,)))
            return []
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Info):
            if message.name == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(stream_hosts=(self.host,)))
            return []
        return []

    async def _confirmed_deleted(self, did: str) -> bool:
        """A DID that no longer resolves, or whose PDS says its repo is deleted."""
        try:
            identity = await self._identity_of(did, refresh=True)
        except IdentityError:
            return True
        return await self._repos.repo_deleted(identity.pds_url, did)

    async def _identity_of(self, did: str, *, refresh: bool = False) -> Identity:
        return await self._identities.get(did, refresh=refresh)
