"""The index's version: what a cached response is valid for.

It moves on every commit this process makes — as the commit starts and again when its connection
goes back to the pool, so a read that ran between the two (and saw the data as it was) is never
taken for current — and on every commit another process makes to the same database — seen
without a query on SQLite (the WAL file grows or is reset with each commit) and on PostgreSQL by
``pg_current_wal_lsn()``, read at most every ``recheck_seconds`` (so another process's write shows
within that time; this process's own writes show at once)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

_COMMITTED = "relay_committed"


class IndexVersion:
    def __init__(self, engine: AsyncEngine, *, recheck_seconds: float = 0.25) -> None:
        self._engine = engine
        self._recheck = recheck_seconds
        self._commits = 0
        self._outside: object = None
        self._checked_at = float("-inf")
        self._wal: Path | None = None
        database = engine.url.database
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._wal = Path(f"{database}-wal")
        event.listen(engine.sync_engine, "commit", self._committing)
        event.listen(engine.sync_engine.pool, "checkin", self._checked_in)

    def close(self) -> None:
        event.remove(self._engine.sync_engine, "commit", self._committing)
        event.remove(self._engine.sync_engine.pool, "checkin", self._checked_in)

    def _committing(self, connection: Any) -> None:
        self._commits += 1
        connection.info[_COMMITTED] = True

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            self._commits += 1

    async def current(self) -> tuple[int, object]:
        """A value that differs after any commit to the database (this process's at once)."""
        if self._wal is not None:
            return self._commits, _file_state(self._wal)
        if self._engine.dialect.name == "postgresql":
            now = time.monotonic()
            if now - self._checked_at >= self._recheck:
                self._checked_at = now
                async with self._engine.connect() as conn:
                    self._outside = (
                        await conn.execute(text("SELECT pg_current_wal_lsn()"))
                    ).scalar()
        return self._commits, self._outside


def _file_state(path: Path) -> object:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
