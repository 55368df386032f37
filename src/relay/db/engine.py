"""Engine construction and the migration gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as OrmSession

from relay.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
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
    return create_async_engine(url, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[OrmSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def pending_migrations(engine: AsyncEngine) -> bool:
    """True when the database is not at the newest revision."""

    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as conn:
        revisions = await conn.run_sync(current)
    return revisions != _heads(str(engine.url))


async def ensure_migrated(engine: AsyncEngine, *, migrate: bool) -> None:
    """Apply pending migrations when ``migrate``; otherwise refuse an un-migrated database."""
    if not await pending_migrations(engine):
        return
    if not migrate:
        raise ConfigurationError(
            "the database is not migrated; run `relay db upgrade` first "
            "(or start with `relay serve --migrate`, or set RELAY_AUTO_MIGRATE=true)",
            variable="RELAY_DATABASE_URL",
        )
    await upgrade(engine)


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every migration up to head."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(run)
