"""``create_app(settings)``: routes, middleware and lifespan, in one place.

The lifespan assembles every collaborator (``relay.assembly``), starts the background workers
(publisher, backfills, firehose) and closes everything in reverse. Tests and production differ
only in what they pass in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from relay.assembly import Collaborators, assemble
from relay.graphql.schema import build_schema
from relay.http.audio import serve_audio
from relay.http.graphql_view import RelayGraphQL
from relay.http.oauth_routes import client_metadata, jwks, oauth_callback, oauth_login
from relay.http.webapp import SinglePageApp
from relay.metrics import RelayMetrics
from relay.settings import Settings

# Built by scripts/setup and served here: GraphiQL (bundled from npm, no CDN) and the web app.
FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
GRAPHIQL_DIST = FRONTEND / "graphiql" / "dist"
WEB_APP_BUILD = FRONTEND / "app" / "build"

log = logging.getLogger(__name__)


def create_app(settings: Settings, collaborators: Collaborators | None = None) -> Starlette:
    inject = collaborators or Collaborators()
    metrics = RelayMetrics()
    staging_dir = settings.data_dir / "tmp"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            parts = await assemble(settings, stack, collaborators=inject, metrics=metrics)
            app.state.services = parts.services
            app.state.store = parts.store
            app.state.engine = parts.engine
            app.state.oauth_login = parts.oauth_login
            app.state.oauth_client_metadata = parts.client_metadata
            app.state.oauth_jwks = parts.client_jwks
            app.state.session_ttl = parts.session_ttl
            app.state.public_url = settings.resolved_public_url
            worker = asyncio.create_task(parts.publisher.run_forever(), name="relay-publish")
            parts.sync.start()
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                await parts.sync.stop()
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    async def healthz(request: Request) -> Response:
        if getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    graphql = RelayGraphQL(
        build_schema(), staging_dir=staging_dir, max_upload_bytes=settings.max_upload_bytes
    )
    graphiql_dir = settings.graphiql_dir or GRAPHIQL_DIST
    graphiql_app = (
        StaticFiles(directory=graphiql_dir, html=True)
        if graphiql_dir.is_dir()
        else PlainTextResponse("GraphiQL is not built: run scripts/setup", status_code=503)
    )
    web_dir = settings.web_dir or WEB_APP_BUILD
    web_app = (
        SinglePageApp(web_dir)
        if web_dir.is_dir()
        else PlainTextResponse("The web app is not built: run scripts/setup", status_code=503)
    )
    routes = [
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        Route("/audio/{file_id}", serve_audio, methods=["GET", "HEAD"]),
        Route("/oauth/login", oauth_login),
        Route("/oauth/callback", oauth_callback),
        Route("/oauth/client-metadata.json", client_metadata),
        Route("/oauth/jwks.json", jwks),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        # The web app's fallback at / would otherwise answer /graphiql (no slash) itself.
        Route("/graphiql", lambda request: RedirectResponse("/graphiql/", status_code=308)),
        Mount("/graphiql", graphiql_app),
        Mount("/", web_app),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


__all__ = ["Collaborators", "create_app"]
