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
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atproto_client import models
from atproto_core.car import CAR
from atproto_firehose import parse_subscribe_repos_message
from atproto_subscription.frames import ErrorFrame, Frame
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from relay.atproto.commits import block, verify_commit
from relay.atproto.identity import Identity, IdentityResolver
from relay.atproto.records import TRACK_NSID
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.sync import (
    AccountHidden,
    AccountRemoved,
    Change,
    Cursor,
    HandleChanged,
    RecordDelete,
    SyncStore,
)
from relay.domain import TrackEventKind
from relay.errors import CommitError, RelayError
from relay.services.backfill import BackfillRequest
from relay.services.ingest import TrackIngest

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
        sync: SyncStore,
        ingest: TrackIngest,
        clock: Clock,
        schedule_backfill: Schedule,
        on_removed: OnRemoved | None = None,
        recv_timeout: float = 60.0,
        reconnect_delay: float = 2.0,
        max_reconnect_delay: float = 60.0,
        max_frame_bytes: int = 5 * 1024 * 1024,
    ) -> None:
        self._recv_timeout = recv_timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._max_frame_bytes = max_frame_bytes
        self.source = url.rstrip("/")
        self._identity = identity
        self._sync = sync
        self._ingest = ingest
        self._clock = clock
        self._schedule_backfill = schedule_backfill
        self._on_removed = on_removed
        self._keys: dict[str, Identity] = {}
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
            self._schedule_backfill(BackfillRequest(pds_hosts=(self.host,)))
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
                    raw = await asyncio.wait_for(socket.recv(), timeout=self._recv_timeout)
                    if isinstance(raw, bytes):
                        await self._on_frame(raw)
            finally:
                self._socket = None

    async def stop(self) -> None:
        """Close the stream; ``run`` returns instead of reconnecting."""
        self._stopping = True
        if self._socket is not None:
            await self._socket.close()

    async def _on_frame(self, raw: bytes) -> None:
        try:
            frame = Frame.from_bytes(raw)
        except Exception:
            self._ingest.stats.drop("malformed")
            return
        if isinstance(frame, ErrorFrame):
            if frame.body.error == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(pds_hosts=(self.host,)))
            raise StreamError(f"error frame: {frame.body.error} {frame.body.message or ''}")
        await self._on_message(frame)

    async def _on_message(self, frame: Any) -> None:
        try:
            message = parse_subscribe_repos_message(frame)
        except Exception:
            self._ingest.stats.drop("malformed")
            return
        seq = getattr(message, "seq", None)
        event_time = _time(getattr(message, "time", None))
        self._ingest.stats.saw_event(event_time)
        changes: list[Change] = []
        try:
            changes = await self._changes(message)
        except CommitError as exc:
            self._ingest.stats.drop(exc.reason)
            log.warning("dropped firehose event %s: %s", seq, exc)
        except RelayError as exc:
            self._ingest.stats.drop("unverifiable")
            log.warning("could not verify firehose event %s: %s", seq, exc.message)
        cursor = Cursor(self.source, seq, event_time) if isinstance(seq, int) else None
        applied = await self._sync.apply(changes, now=self._clock.now(), cursor=cursor)
        await self._ingest.announce(applied)
        removed = [change.row for change in applied if change.kind is TrackEventKind.DELETED]
        if removed and self._on_removed is not None:
            await self._on_removed(removed)

    async def _changes(self, message: Any) -> list[Change]:
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Commit):
            return await self._commit(message)
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Identity):
            identity = await self._identity_of(message.did, refresh=True)
            return [HandleChanged(message.did, identity.handle)]
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Account):
            if message.active:
                return [AccountHidden(message.did, hidden=False)]
            if message.status == "deleted":
                return [AccountRemoved(message.did)]
            return [AccountHidden(message.did, hidden=True)]
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Sync):
            self._schedule_backfill(BackfillRequest(dids=(message.did,)))
            return []
        if isinstance(message, models.ComAtprotoSyncSubscribeRepos.Info):
            if message.name == "OutdatedCursor":
                self._schedule_backfill(BackfillRequest(pds_hosts=(self.host,)))
            return []
        return []

    async def _identity_of(self, did: str, *, refresh: bool = False) -> Identity:
        if refresh or did not in self._keys:
            self._keys[did] = await self._identity.resolve(did)
        return self._keys[did]

    async def _commit(self, commit: Any) -> list[Change]:
        ops = [op for op in commit.ops if op.path.startswith(f"{TRACK_NSID}/")]
        if not ops:
            return []  # other collections: no signature check, no decoding
        if commit.too_big:
            self._schedule_backfill(BackfillRequest(dids=(commit.repo,)))
            return []
        try:
            car = CAR.from_bytes(commit.blocks)
        except Exception as exc:
            raise CommitError("malformed", f"unreadable blocks: {exc}") from exc
        signed = block(car.blocks, commit.commit)
        identity = await self._identity_of(commit.repo)
        try:
            verify_commit(signed, repo=commit.repo, signing_key=identity.signing_key)
        except CommitError as exc:
            if exc.reason != "bad_signature":
                raise
            # The key may have rotated: check once more against a fresh DID document.
            identity = await self._identity_of(commit.repo, refresh=True)
            verify_commit(signed, repo=commit.repo, signing_key=identity.signing_key)
        changes: list[Change] = []
        for op in ops:
            rkey = op.path.split("/", 1)[1]
            uri = f"at://{commit.repo}/{op.path}"
            if op.action == "delete":
                changes.append(RecordDelete(uri))
                continue
            if op.cid is None:
                raise CommitError("malformed", f"{op.action} of {uri} without a CID")
            value = block(car.blocks, op.cid)
            change = self._ingest.upsert(
                did=commit.repo, rkey=rkey, cid=str(op.cid), rev=commit.rev, value=value,
                handle=identity.handle,
            )  # fmt: skip
            if change is not None:
                changes.append(change)
        return changes
