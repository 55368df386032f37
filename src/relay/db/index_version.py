"""The index's version: what a cached response is valid for.

It moves with every change to ``tracks`` and ``likes`` — what anonymous queries read — and with
nothing else (a firehose cursor saved, a session refreshed, a sweep that found nothing leave
answers valid).
An answer about the whole index is valid for ``token(None)``; an answer about some artists only
(a track, an artist's page) for ``token(dids)``, which moves only when one of those artists'
tracks change — so a live firehose does not empty the cache of every artist with each batch.

The whole index's version moves with:
- this process's commits that changed a row of ``tracks`` or ``likes``: as the commit starts
  and again when its connection goes back to the pool, so a read that ran between the two (and
  saw the data as it was) is never taken for current;
- every process's: ``index_state.version``, moved by triggers on ``tracks`` and ``likes`` in the
  writing transaction (migrations 0006, 0012). SQLite reads it when the WAL file changed (a
  stat, no query, while nothing was committed); PostgreSQL at most every ``recheck_seconds``
  (so another process's write shows within that time; this process's own show at once).

An artist's version is read from ``artist_versions`` (migration 0008: the index version at which
their tracks last changed) for the artists changed since the last read, whenever the index
version moved (and at once after this process's own commits). Artists are remembered up to
``max_artists``; one forgotten, or a gap too large to read, moves every artist's version."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

_WROTE = "relay_wrote"  # the transaction on this connection changed a row of the index
_COMMITTED = "relay_committed"  # and committed: once more when the connection is back
_TARGET = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE
)
INDEX_TABLES = frozenset({"tracks", "likes", "lists", "list_items", "profiles"})
_VERSION = text("SELECT version FROM index_state WHERE id = 1")
_CHANGED = text(
    "SELECT artist_did, version FROM artist_versions WHERE version > :since AND version <= :upto "
    "LIMIT :most"
)
Scope = frozenset[str] | None  # the artists an answer is about, or None: the whole index


class IndexVersion:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        recheck_seconds: float = 0.25,
        max_artists: int = 100_000,
        max_changed: int = 10_000,
    ) -> None:
        self._engine = engine
        self._max_artists = max_artists
        self._max_changed = max_changed
        # Per artist, the index version their tracks last changed at (as far as read).
        self._artists: OrderedDict[str, int] = OrderedDict()
        self._read_up_to: int | None = None  # the index version artist_versions was read to
        self._commits_read = 0  # this process's commits, as of that read
        self._forgotten = 0  # times every artist was forgotten (each moves every artist's token)
        self._reading = asyncio.Lock()
        self._reads_begun = 0
        self._recheck = recheck_seconds
        self._commits = 0
        self._outside: object = None
        self._checked_at = float("-inf")
        self._wal_seen: object = ()
        self._wal: Path | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._wal = Path(f"{database}-wal")
        self._postgres = engine.dialect.name == "postgresql"
        self._listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (engine.sync_engine, "after_cursor_execute", self._executed),
            (engine.sync_engine, "commit", self._committing),
            (engine.sync_engine, "begin", self._beginning),
            (engine.sync_engine.pool, "checkin", self._checked_in),
        ]
        for target, name, listener in self._listeners:
            event.listen(target, name, listener)

    def close(self) -> None:
        for target, name, listener in self._listeners:
            event.remove(target, name, listener)

    def _executed(self, connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT" or cursor.rowcount == 0:
            return  # rowcount -1 (not known) is counted
        target = _TARGET.match(statement)
        if target is None or target.group(1).lower() in INDEX_TABLES:
            connection.info[_WROTE] = True  # a statement of unknown shape is counted too

    def _committing(self, connection: Any) -> None:
        if connection.info.pop(_WROTE, False):
            self._commits += 1
            connection.info[_COMMITTED] = True

    def _beginning(self, connection: Any) -> None:
        # What a rolled-back transaction wrote is forgotten here, not in a rollback listener:
        # a connection cancelled mid-query rolls back invalidated, and has no info to read.
        connection.info.pop(_WROTE, None)

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            self._commits += 1

    def token(self, scope: Scope) -> object:
        """What an answer about ``scope`` is valid for, as of the last ``refresh``: it differs
        after any change to those artists' tracks (``None``: to any track)."""
        if scope is None:
            return self._commits, self._outside
        artists = self._artists
        return self._forgotten, tuple(sorted((did, artists.get(did, 0)) for did in scope))

    async def refresh(self) -> None:
        """Read what changed, if anything may have: another process's commits (SQLite: the WAL
        file changed; PostgreSQL: every ``recheck_seconds``) or this process's."""
        if self._wal is not None:
            state = _file_state(self._wal)
            if state != self._wal_seen:  # something was committed: was it the index?
                self._wal_seen = state
                await self._read()
        elif self._postgres:
            now = time.monotonic()
            if now - self._checked_at >= self._recheck or self._commits != self._commits_read:
                self._checked_at = now
                await self._read()
        if self._commits != self._commits_read:
            await self._read()

    async def _read(self) -> None:
        """Read what changed, or wait for a read that covers this caller: one that began after
        the caller asked. Every request after a commit asks; each reading in turn (one read
        at a time: what it learns only ever moves forward) queued a burst of 100 requests for
        1 to 2 s behind one another's identical reads."""
        asked = self._reads_begun
        async with self._reading:
            if self._reads_begun > asked:
                return  # a read began after this caller asked, and has ended: it saw as much
            self._reads_begun += 1
            await self._read_once()

    async def _read_once(self) -> None:
        commits = self._commits
        async with self._engine.connect() as conn:
            version = (await conn.execute(_VERSION)).scalar()
            self._outside = version
            since = self._read_up_to
            if not isinstance(version, int):
                return
            if since is None or version < since:  # the first read, or a database reset
                if since is not None:
                    self._forget_all()
                self._read_up_to, self._commits_read = version, commits
                return
            if version > since:
                params = {"since": since, "upto": version, "most": self._max_changed + 1}
                changed = (await conn.execute(_CHANGED, params)).all()
                if len(changed) > self._max_changed:
                    self._forget_all()
                else:
                    for did, at in changed:
                        self._remember(did, at)
            self._read_up_to, self._commits_read = version, commits

    def _remember(self, did: str, version: int) -> None:
        if version <= self._artists.get(did, 0):
            return
        self._artists[did] = version
        self._artists.move_to_end(did)
        if len(self._artists) > self._max_artists:
            # An artist forgotten would read as never changed: every artist's answers go.
            self._forget_all()

    def _forget_all(self) -> None:
        self._artists.clear()
        self._forgotten += 1


def _file_state(path: Path) -> object:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
