"""Engine construction and the migration gate."""

from __future__ import annotations

import ast
import fcntl
import functools
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as OrmSession

from relay.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x72656C6179  # "relay": the advisory lock key migrations take on PostgreSQL


def create_engine(
    url: str, *, ping_after_idle: float = 5.0, pool_size: int = 20, pool_overflow: int = 10
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection;
    a PostgreSQL connection is pinged before use only when it sat idle in the pool for
    ``ping_after_idle`` seconds (``pool_pre_ping`` would add a round trip to every read).

    PostgreSQL: ``pool_size`` connections are kept open, ``pool_overflow`` more are opened in a
    burst and closed when returned. Opening one costs both sides milliseconds of CPU (a server
    process, authentication, type setup): with SQLAlchemy's 5, an API under load spent more
    time connecting than querying, and its slowest answers were waits for a new connection."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_overflow)
    _ping_idle_connections(engine, ping_after_idle)
    return engine


_IDLE_SINCE = "relay_idle_since"


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a connection that was idle long enough to have been dropped (a restarted server, a
    NAT or proxy timeout) before handing it out; a dead one is replaced, as ``pool_pre_ping``
    does. One that was in use moments ago is handed out as it is: were it dropped since, the
    query fails and the pool discards it."""
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    @event.listens_for(pool, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):  # type: ignore[arg-type]
                raise DisconnectionError("an idle connection was dropped") from exc
            raise


def session_factory(engine: AsyncEngine) -> async_sessionmaker[OrmSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def code_heads() -> frozenset[str]:
    """The newest migration revision(s) this code ships, read from the migration files' own
    ``revision`` / ``down_revision`` values — what alembic's script directory reads, without
    importing alembic (~12 MB a serving process needs only when it migrates)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target, value = _assignment(node)
            if target == "revision" and isinstance(value, str):
                revisions.add(value)
            elif target == "down_revision" and value is not None:
                parents.update([value] if isinstance(value, str) else value)
    return frozenset(revisions - parents)


def _assignment(node: ast.stmt) -> tuple[str | None, Any]:
    """(name, literal value) of a module-level ``name = literal`` or ``name: T = literal``."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None, None
    if not isinstance(target, ast.Name):
        return None, None
    try:
        return target.id, ast.literal_eval(value)
    except ValueError:
        return None, None


async def pending_migrations(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest revision."""

    def current(connection: Connection) -> set[str]:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())

    async with engine.connect() as conn:
        revisions = await conn.run_sync(current)
    return revisions != code_heads()


async def ensure_migrated(engine: AsyncEngine, *, migrate: bool) -> None:
    """Apply pending migrations when ``migrate``; otherwise refuse an un-migrated database."""
    # Processes started together (an API process and `relay ingest` on a new database) take
    # turns, the first look included: the one that waited finds the work done, and no process
    # connects to a new SQLite file while another creates it (its switch to WAL met the
    # migrating process's lock: "database is locked").
    async with migration_lock(engine):
        if not await pending_migrations(engine):
            return
        if not migrate:
            raise ConfigurationError(
                "the database is not migrated; run `relay db upgrade` first "
                "(or start with `relay serve --migrate`, or set RELAY_AUTO_MIGRATE=true)",
                variable="RELAY_DATABASE_URL",
            )
        await upgrade(engine)


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """One process at a time migrates a database: a PostgreSQL advisory lock, or for a SQLite
    file an exclusive lock on a file beside it."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            try:
                yield
            finally:
                await conn.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK}
                )
                await conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    held = os.open(f"{database}.migrating", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await anyio.to_thread.run_sync(fcntl.flock, held, fcntl.LOCK_EX)
        yield
    finally:
        os.close(held)  # closing the file releases the lock


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every migration up to head."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(run)
