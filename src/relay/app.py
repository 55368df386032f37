"""``create_app(settings)``: routes, middleware and lifespan, in one place.

The lifespan opens every collaborator (DB engine, storage client, HTTP clients, the publish
worker) and closes them in reverse. Tests and production differ only in what they pass in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import aioboto3
import httpx
from aiobotocore.config import AioConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from relay.atproto.identity import AtprotoIdentityResolver, IdentityResolver
from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.oauth import OAuthClient
from relay.atproto.pds import PdsClient, XrpcPdsClient
from relay.clock import Clock, SystemClock
from relay.crypto import SecretBox
from relay.db.engine import create_engine, pending_migrations, session_factory, upgrade
from relay.db.sessions import OAuthRequestStore, SessionStore
from relay.db.tracks import TrackIndex
from relay.errors import ConfigurationError
from relay.graphql.context import Services
from relay.graphql.schema import build_schema
from relay.http.audio import serve_audio
from relay.http.graphql_view import RelayGraphQL
from relay.http.home import home
from relay.http.oauth_routes import client_metadata, jwks, oauth_callback, oauth_login
from relay.keys import client_identity, secret_key
from relay.metrics import RelayMetrics
from relay.services.oauth_login import OAuthLogin
from relay.services.publisher import PublishWorker
from relay.services.sessions import SessionService
from relay.services.tracks import RetryPolicy, TrackService
from relay.settings import Settings
from relay.storage.base import AudioStore
from relay.storage.filesystem import FilesystemAudioStore
from relay.storage.s3 import S3AudioStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collaborators:
    """I/O boundaries to use instead of the production ones (tests inject faults here)."""

    pds: PdsClient | None = None
    identity: IdentityResolver | None = None
    clock: Clock | None = None
    store: AudioStore | None = None
    track_index_wrapper: type[TrackIndex] | None = None


async def _open_store(settings: Settings, stack: AsyncExitStack) -> AudioStore:
    if settings.storage_backend == "filesystem":
        return FilesystemAudioStore(
            settings.data_dir / "audio", public_base_url=settings.resolved_public_url
        )
    # The settings validator guarantees these for the s3 backend.
    assert settings.s3_secret_access_key is not None
    assert settings.s3_bucket is not None
    assert settings.public_audio_base_url is not None
    session = aioboto3.Session()
    client = await stack.enter_async_context(
        session.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            config=AioConfig(retries={"max_attempts": 3, "mode": "standard"}),
        )
    )
    return S3AudioStore(
        client,
        bucket=settings.s3_bucket,
        public_base_url=settings.public_audio_base_url,
        part_size=settings.s3_part_size,
    )


def create_app(settings: Settings, collaborators: Collaborators | None = None) -> Starlette:
    inject = collaborators or Collaborators()
    metrics = RelayMetrics()
    staging_dir = settings.data_dir / "tmp"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(settings.resolved_database_url)
            stack.push_async_callback(engine.dispose)
            if await pending_migrations(engine):
                if not settings.auto_migrate:
                    raise ConfigurationError(
                        "the database is not migrated; run `relay db upgrade` "
                        "(or set RELAY_AUTO_MIGRATE=true)",
                        variable="RELAY_DATABASE_URL",
                    )
                await upgrade(engine)
            sessions_db = session_factory(engine)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            clock = inject.clock or SystemClock()
            identity = inject.identity or AtprotoIdentityResolver(
                plc_url=settings.plc_url,
                http=http,
                handle_resolver_url=settings.handle_resolver_url,
                timeout=settings.identity_timeout_seconds,
            )
            if inject.identity is None:
                stack.push_async_callback(identity.aclose)
            pds = inject.pds or XrpcPdsClient(http, timeout=settings.pds_timeout_seconds)
            store = inject.store or await _open_store(settings, stack)
            index = (inject.track_index_wrapper or TrackIndex)(sessions_db)
            box = SecretBox(secret_key(settings))
            client_config, client_document, client_keys = client_identity(settings)
            oauth = OAuthClient(http, client_config, clock)
            session_ttl = timedelta(days=settings.session_ttl_days)
            sessions = SessionService(
                store=SessionStore(sessions_db),
                identity=identity,
                pds=pds,
                oauth=oauth,
                box=box,
                clock=clock,
                ttl=session_ttl,
            )
            app.state.oauth_login = OAuthLogin(
                oauth=oauth,
                identity=identity,
                requests=OAuthRequestStore(sessions_db),
                sessions=sessions,
                http=http,
                box=box,
                clock=clock,
                request_ttl=timedelta(seconds=settings.oauth_request_ttl_seconds),
                app_redirects=settings.oauth_app_redirects,
            )
            app.state.oauth_client_metadata = client_document
            app.state.oauth_jwks = client_keys
            app.state.session_ttl = session_ttl
            app.state.public_url = settings.resolved_public_url
            tracks = TrackService(
                index=index,
                store=store,
                sessions=sessions,
                pds=pds,
                lexicons=LexiconCatalog.load(settings.lexicon_dir or default_lexicon_dir()),
                clock=clock,
                metrics=metrics,
                retry=RetryPolicy(
                    settings.publish_retry_base_seconds, settings.publish_retry_max_seconds
                ),
            )
            app.state.services = Services(tracks=tracks, sessions=sessions)
            app.state.store = store
            worker = PublishWorker(
                index=index,
                tracks=tracks,
                clock=clock,
                interval=settings.publish_worker_interval_seconds,
            )
            task = asyncio.create_task(worker.run_forever(), name="relay-publish-worker")
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def healthz(request: Request) -> Response:
        if getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "starting"}, status_code=503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    graphql = RelayGraphQL(
        build_schema(), staging_dir=staging_dir, max_upload_bytes=settings.max_upload_bytes
    )
    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        Route("/audio/{file_id}", serve_audio, methods=["GET", "HEAD"]),
        Route("/oauth/login", oauth_login),
        Route("/oauth/callback", oauth_callback),
        Route("/oauth/client-metadata.json", client_metadata),
        Route("/oauth/jwks.json", jwks),
        Route("/graphql", graphql, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
