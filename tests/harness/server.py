"""relay running in the test's event loop: behind a real uvicorn socket, or in process (httpx's
ASGI transport) where a test needs no socket."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from relay.app import Collaborators, create_app
from relay.assembly import Assembled
from relay.crypto import SecretBox
from relay.db.engine import create_engine, session_factory
from relay.sandbox import Account, free_port
from relay.settings import Settings
from tests.harness.client import RelayClient


@dataclass
class RunningRelay:
    url: str
    parts: Assembled
    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None  # set when relay runs in process

    @asynccontextmanager
    async def client(self, account: Account | None = None) -> AsyncIterator[RelayClient]:
        """A GraphQL client of this relay, signed in as ``account`` when one is given."""
        async with RelayClient(self.url, transport=self.transport) as client:
            if account is not None:
                client.token = await client.login(account.handle, account.password)
            yield client

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


class _WithLifespanState:
    """What an ASGI server does for each request: hand it a copy of the lifespan state."""

    def __init__(self, app: ASGIApp, state: Mapping[str, Any]) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app({**scope, "state": dict(self._state)}, receive, send)


@asynccontextmanager
async def run_relay(
    settings: Settings, collaborators: Collaborators | None = None, *, in_process: bool = False
) -> AsyncIterator[RunningRelay]:
    """Start relay with ``settings``; ``in_process`` runs it without a socket (no audio URLs to
    fetch, no subscriptions: those need ``url`` to be served)."""
    port = settings.port if settings.port != 8000 else free_port()
    settings = settings.model_copy(update={"port": port, "host": "127.0.0.1"})
    app = create_app(settings, collaborators)
    if in_process:
        async with AsyncExitStack() as stack:
            state = await stack.enter_async_context(app.router.lifespan_context(app))
            assert state is not None
            transport = httpx.ASGITransport(app=_WithLifespanState(app, state))
            try:
                yield RunningRelay(
                    url=f"http://127.0.0.1:{port}",
                    parts=state["relay"],
                    settings=settings,
                    transport=transport,
                )
            finally:
                await _shut_down(stack.pop_all())
        return
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("relay did not start")
        await asyncio.sleep(0.02)
    try:
        yield RunningRelay(
            url=f"http://127.0.0.1:{port}", parts=server.lifespan.state["relay"], settings=settings
        )
    finally:
        server.should_exit = True
        await _shut_down(task)


SHUTDOWN_SECONDS = 60


async def _shut_down(running: AsyncExitStack | asyncio.Task[None]) -> None:
    """Stop relay; if it does not stop within a minute, fail naming every task still waiting
    (a hang in shutdown is a bug to see, not a suite that never ends)."""
    stopping = asyncio.ensure_future(
        running.aclose() if isinstance(running, AsyncExitStack) else running
    )
    done, _ = await asyncio.wait({stopping}, timeout=SHUTDOWN_SECONDS)
    if stopping in done:
        stopping.result()
        return
    stacks = io.StringIO()
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}", file=stacks)
        task.print_stack(limit=12, file=stacks)
    raise AssertionError(f"relay did not stop within {SHUTDOWN_SECONDS}s:\n{stacks.getvalue()}")
