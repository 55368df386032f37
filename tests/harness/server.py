"""relay running in the test's event loop behind a real uvicorn socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from relay.app import Collaborators, create_app
from relay.crypto import SecretBox
from relay.db.engine import create_engine, session_factory
from relay.sandbox import free_port
from relay.settings import Settings


@dataclass
class RunningRelay:
    url: str
    app: Starlette
    settings: Settings

    @asynccontextmanager
    async def database(self) -> AsyncIterator[AsyncSession]:
        """A transaction on relay's own database, to look at or tamper with what it stored."""
        engine = create_engine(self.settings.resolved_database_url)
        try:
            async with session_factory(engine)() as db, db.begin():
                yield db
        finally:
            await engine.dispose()

    def secret_box(self) -> SecretBox:
        """What seals tokens in this relay's database (its generated development key)."""
        return SecretBox((self.settings.data_dir / "secret.key").read_text().strip())


@asynccontextmanager
async def run_relay(
    settings: Settings, collaborators: Collaborators | None = None
) -> AsyncIterator[RunningRelay]:
    port = settings.port if settings.port != 8000 else free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    app = create_app(settings, collaborators)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server._serve())  # _serve: no signal capture inside pytest
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("relay did not start")
        await asyncio.sleep(0.02)
    try:
        yield RunningRelay(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        await task
