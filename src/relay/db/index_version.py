"""The index's version: what a cached response is valid for.

It moves with every change to ``tracks`` — what anonymous queries read — and with nothing else
(a firehose cursor saved, a session refreshed, a sweep that found nothing leave answers valid):
- this process's commits that changed a row of ``tracks``: as the commit starts and again when
  its connection goes back to the pool, so a read that ran between the two (and saw the data as
  it was) is never taken for current;
- every process's: ``index_state.version``, moved by triggers on ``tracks`` in the writing
  transaction (migration 0006). SQLite reads it when the WAL file changed (a stat, no query,
  while nothing was committed); PostgreSQL at most every ``recheck_seconds`` (so another
  process's write shows within that time; this process's own show at once)."""

from __future__ import annotations

import os
import re
import time
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
INDEX_TABLES = frozenset({"tracks"})
_VERSION = text("SELECT version FROM index_state WHERE id = 1")


class IndexVersion:
    def __init__(self, engine: AsyncEngine, *, recheck_seconds: float = 0.25) -> None:
        self._engine = engine
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

    async def current(self) -> tuple[int, object]:
        """A value that differs after any change to the index (this process's at once)."""
        if self._wal is not None:
            state = _file_state(self._wal)
            if state != self._wal_seen:  # something was committed: was it the index?
                self._outside = await self._read_version()
                self._wal_seen = state
            return self._commits, self._outside
        if self._postgres:
            now = time.monotonic()
            if now - self._checked_at >= self._recheck:
                self._checked_at = now
                self._outside = await self._read_version()
        return self._commits, self._outside

    async def _read_version(self) -> object:
        async with self._engine.connect() as conn:
            return (await conn.execute(_VERSION)).scalar()


def _file_state(path: Path) -> object:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
