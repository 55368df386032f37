"""``create_app(settings)``: routes, middleware and lifespan, in one place.

The lifespan assembles every collaborator (``relay.assembly``), starts the background workers
(publisher, backfills, firehose) and closes everything in reverse. Tests and production differ
only in what they pass in.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.resources import files
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from relay.assembly import Collaborators, assemble
from relay.db import planner_stats
from relay.graphql.limits import QueryLimits
from relay.graphql.schema import build_schema
from relay.http.audio import serve_audio, serve_avatar
from relay.http.body_limit import JsonBodyLimit
from relay.http.graphql_view import RelayGraphQL
from relay.http.oauth_routes import client_metadata, jwks, oauth_callback, oauth_login
from relay.http.response_cache import ResponseCache
from relay.http.security_headers import SecurityHeaders, audio_origins, page_policy
from relay.http.state import LifespanState, relay_of
from relay.http.uploads import MultipartBounds, remove_stale_staging
from relay.http.webapp import FALLBACK_PAGE, SinglePageApp
from relay.settings import Settings

# Built by scripts/setup into the package and served here: the web app and GraphiQL (no CDN).
BUILD_HINT = "run scripts/setup in a checkout (or npm run build in frontend/{}) before building"


def packaged_frontend(name: str) -> Path:
    """Where a built frontend ships inside the package (``relay/web/<name>``)."""
    return Path(str(files("relay").joinpath("web").joinpath(name)))


log = logging.getLogger(__name__)
SYNC_STOP_SECONDS = 15.0  # how long a stopping process waits for the firehose and backfills
STATISTICS_SECONDS = 3600.0  # how often SQLite's planner statistics are looked at


def _web_app(directory: Path) -> ASGIApp:
    if (directory / FALLBACK_PAGE).is_file():
        return SinglePageApp(directory)
    return _not_built("The web app", directory, "app")


def _graphiql(directory: Path) -> ASGIApp:
    if (directory / "index.html").is_file():
        return StaticFiles(directory=directory, html=True)
    return _not_built("GraphiQL", directory, "graphiql")


def _not_built(what: str, directory: Path, source: str) -> ASGIApp:
    """Say — in one line, at start — that a frontend is absent and how to build it."""
    hint = BUILD_HINT.format(source)
    log.warning("%s is not built (nothing in %s): %s", what, directory, hint)
    return PlainTextResponse(f"{what} is not built: {hint}", status_code=503)


def create_app(settings: Settings, collaborators: Collaborators | None = None) -> Starlette:
    inject = collaborators or Collaborators()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[LifespanState]:
        async with AsyncExitStack() as stack:
            parts = await assemble(settings, stack, collaborators=inject)
            removed = await anyio.to_thread.run_sync(
                remove_stale_staging, settings.data_dir / "tmp"
            )
            removed += await parts.store.sweep()
            if removed:
                log.info("removed %d pieces of uploads cut short by stopped processes", removed)
            await parts.services.events.start()
            stack.push_async_callback(parts.services.events.stop)
            workers = [
                asyncio.create_task(parts.publisher.run_forever(), name="relay-publish"),
                asyncio.create_task(
                    parts.objects.run_forever(settings.collector_interval_seconds),
                    name="relay-collector",
                ),
                asyncio.create_task(
                    planner_stats.refresh_forever(parts.engine, STATISTICS_SECONDS),
                    name="relay-statistics",
                ),
            ]
            parts.sync.start()
            try:
                yield {"relay": parts}
            finally:
                try:  # a backfill cut short mid-request must not hold the process up
                    async with asyncio.timeout(SYNC_STOP_SECONDS):
                        await parts.sync.stop()
                except TimeoutError:
                    log.error("the firehose and backfills did not stop within %gs",
                              SYNC_STOP_SECONDS)  # fmt: skip
                for worker in workers:
                    worker.cancel()
                for worker in workers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker

    async def healthz(request: Request) -> Response:
        # Liveness: requests are only served between lifespan start-up and shutdown.
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        readiness = await relay_of(request).readiness.check()
        body = {"status": "ready" if readiness.ready else "not ready", "checks": readiness.checks}
        headers = {"Cache-Control": "no-store"}
        return JSONResponse(body, status_code=200 if readiness.ready else 503, headers=headers)

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token is not None:
            expected = f"Bearer {settings.metrics_token.get_secret_value()}"
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return PlainTextResponse("metrics need RELAY_METRICS_TOKEN", status_code=401)
        body = relay_of(request).metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        max_cost=settings.max_query_cost,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
    )
    graphql = RelayGraphQL(
        build_schema(limits),
        bounds=MultipartBounds(
            max_file_bytes=settings.max_upload_bytes,
            max_field_bytes=settings.max_form_field_bytes,
            max_image_bytes=settings.max_image_bytes,
            max_files=settings.max_upload_files,
            max_parts=settings.max_upload_files + 6,
            max_part_header_bytes=settings.max_part_header_bytes,
        ),
        cache=ResponseCache(
            entries=settings.response_cache_entries,
            entry_bytes=settings.response_cache_entry_bytes,
            max_age=settings.response_cache_max_age_seconds,
        ),
    )
    graphiql_app = _graphiql(settings.graphiql_dir or packaged_frontend("graphiql"))
    web_app = _web_app(settings.web_dir or packaged_frontend("app"))
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/audio/{file_id}", serve_audio, methods=["GET", "HEAD"]),
        Route("/avatars/{did}/{cid}", serve_avatar, methods=["GET", "HEAD"]),
        Route("/oauth/login", oauth_login),
        Route("/oauth/callback", oauth_callback),
        Route("/oauth/client-metadata.json", client_metadata),
        Route("/oauth/jwks.json", jwks),
        Route(
            "/graphql",
            JsonBodyLimit(graphql, max_bytes=settings.max_json_body_bytes),
            methods=["GET", "POST"],
        ),
        WebSocketRoute("/graphql", graphql),
        # The web app's fallback at / would otherwise answer /graphiql (no slash) itself.
        Route("/graphiql", lambda request: RedirectResponse("/graphiql/", status_code=308)),
        Mount("/graphiql", graphiql_app),
        Mount("/", web_app),
    ]
    policy = page_policy(
        audio_origins(
            [settings.public_audio_base_url, settings.resolved_public_url],
            settings.playable_audio_hosts,
        )
    )
    middleware = [Middleware(SecurityHeaders, policy=policy)]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


__all__ = ["Collaborators", "create_app"]
