"""``Reads``: where the index's read-only statements run — a page, a count, tracks by URI.

On PostgreSQL a read is one statement on the async engine, outside a transaction (asyncpg: one
round trip). On SQLite, aiosqlite hands each step of a statement to its connection's thread and
back — cursor, execute, fetch, close, rollback: five hops, about a millisecond of a page.
``SqliteReads`` runs the whole statement on a synchronous SQLAlchemy engine over the same file in
a small pool of reader threads: one hop, the same compiled-statement cache and type conversions,
and the event loop free while SQLite works (it lets go of the GIL). Reader connections are
``query_only``: nothing can write through them, and in WAL mode they never wait for the writer.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import sqlalchemy
from sqlalchemy import Connection, Executable, Row, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

READER_THREADS = 4
# The task that asked for a read (a reader thread has no task of its own): what its logs, and
# tests that count statements, tell relay's background work from a client's by.
reading_task: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "relay_reading_task", default=None
)


Params = Mapping[str, Any] | None


class Reads(Protocol):
    async def all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        """Every row ``stmt`` returns (run with ``params``, values of its bound parameters)."""

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        """The first column of the first row (None: no row)."""

    @property
    def sync_engine(self) -> sqlalchemy.Engine:
        """The engine the statements are sent on (to watch what is sent)."""


class EngineReads:
    """Reads on the async engine, one connection (and round trip) per statement."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._base = engine
        # A read is one statement: on PostgreSQL it runs outside a transaction, or asyncpg sends
        # BEGIN before it and ROLLBACK after it — three round trips where one does (a third of
        # a short read's time, measured).
        self._engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @property
    def sync_engine(self) -> sqlalchemy.Engine:
        return self._base.sync_engine  # its listeners see the reads too

    async def all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        async with self._engine.connect() as db:
            return (await db.execute(stmt, params)).all()

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        async with self._engine.connect() as db:
            return (await db.execute(stmt, params)).scalar()


class SqliteReads:
    """Reads on SQLite in reader threads (see the module's doc). ``close`` when done."""

    def __init__(self, url: str, *, threads: int = READER_THREADS) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._engine = sqlalchemy.create_engine(
            sync_url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=threads,
            max_overflow=0,
        )

        @event.listens_for(self._engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="relay-sqlite-read")

    @property
    def sync_engine(self) -> sqlalchemy.Engine:
        return self._engine

    async def _run(self, work: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self._engine.connect() as db:
                return work(db)

        task = asyncio.current_task()
        context = contextvars.copy_context()
        context.run(reading_task.set, None if task is None else task.get_name())
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, context.run, run)

    async def all(self, stmt: Executable, params: Params = None) -> Sequence[Row[Any]]:
        return await self._run(lambda db: db.execute(stmt, params).all())

    async def scalar(self, stmt: Executable, params: Params = None) -> Any:
        return await self._run(lambda db: db.execute(stmt, params).scalar())

    async def close(self) -> None:
        """Wait for reads under way, then close the reader connections."""
        await asyncio.get_running_loop().run_in_executor(None, self._threads.shutdown, True)
        self._engine.dispose()


def reads_for(engine: AsyncEngine, *, threads: int = READER_THREADS) -> EngineReads | SqliteReads:
    """How the index reads on ``engine``'s database: on a SQLite file, in ``threads`` reader
    threads (0: on the engine itself). A ``SqliteReads`` must be closed."""
    on_file = engine.url.database not in (None, "", ":memory:")
    if engine.dialect.name == "sqlite" and on_file and threads > 0:
        url = engine.url.render_as_string(hide_password=False)
        return SqliteReads(url, threads=threads)
    return EngineReads(engine)
