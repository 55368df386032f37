"""What SQL an in-process relay sends (to count statements, or to see that none was sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from relay.db.reads import reading_task
from tests.harness.server import RunningRelay


@contextmanager
def statements(relay: RunningRelay) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        # Not the response cache's look at the index version (index_state, artist_versions: on
        # SQLite after a commit, on PostgreSQL at most every recheck time). Nor what relay's own
        # background tasks (all named "relay-…": publisher, audio collector, firehose, backfill)
        # send.
        try:
            task = asyncio.current_task()
            name = None if task is None else task.get_name()
        except RuntimeError:  # in a reader thread (SqliteReads): the task that asked
            name = reading_task.get()
        if name is not None and name.startswith("relay-"):
            return
        if "FROM index_state" not in args[2] and "FROM artist_versions" not in args[2]:
            seen.append(args[2])

    # Writes and most reads go to the engine; the index's pages, counts and lookups to its
    # reader threads' engine on SQLite.
    engines = {relay.parts.engine.sync_engine, relay.parts.reads.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
