"""Builds relay's object graph from settings: every collaborator opened here is closed by the
caller's exit stack. ``create_app`` serves it; ``relay ingest`` and ``relay backfill`` run it
without HTTP."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from relay.atproto.identity import AtprotoIdentityResolver, IdentityResolver
from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.oauth import OAuthClient
from relay.atproto.pds import PdsClient, XrpcPdsClient
from relay.atproto.records import LIKE_NSID, LIST_NSID, TRACK_NSID
from relay.atproto.repos import CarBounds, RepoClient
from relay.clock import Clock, SystemClock
from relay.crypto import SecretBox
from relay.db.audio_refs import AudioRefs
from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.db.event_log import EventLog, listen_dsn
from relay.db.index_version import IndexVersion
from relay.db.like_index import LikeIndex
from relay.db.list_index import ListIndex
from relay.db.profile_index import ProfileIndex
from relay.db.reads import Reads, SqliteReads, reads_for
from relay.db.sessions import OAuthRequestStore, SessionStore
from relay.db.sync import SyncStore
from relay.db.tracks import PageBounds, TrackIndex
from relay.errors import ConfigurationError, LexiconError
from relay.keys import client_identity, secret_key
from relay.metrics import RelayMetrics
from relay.net.outbound import OutboundPolicy, Resolve, outbound_client, system_resolve
from relay.services.app_services import InstanceInfo, Services
from relay.services.audio_objects import AudioObjects
from relay.services.backfill import Backfill
from relay.services.events import EventBus, SharedEventBus, TrackEventBus
from relay.services.firehose import FirehoseConsumer
from relay.services.ingest import RecordBounds, RecordIngest, SyncStats
from relay.services.likes import Likes
from relay.services.lists import Lists
from relay.services.oauth_login import OAuthLogin
from relay.services.ownership import TrackLeases
from relay.services.profiles import Profiles
from relay.services.publisher import PublishWorker
from relay.services.publishing import Publishing, RetryPolicy
from relay.services.rate_limits import RateLimiter, RateRules
from relay.services.readiness import ReadinessProbe
from relay.services.record_writer import RecordWriter
from relay.services.sessions import SessionService
from relay.services.sync import SyncCoordinator
from relay.services.track_edits import TrackEdits
from relay.services.track_reads import TrackReads
from relay.services.track_uploads import TrackUploads
from relay.settings import Settings
from relay.storage.base import AudioStore
from relay.storage.filesystem import FilesystemAudioStore

log = logging.getLogger("relay")

REQUIRED_LEXICONS = (TRACK_NSID, LIKE_NSID, LIST_NSID)


@dataclass(frozen=True)
class Collaborators:
    """I/O boundaries to use instead of the production ones (tests inject faults here)."""

    pds: PdsClient | None = None
    identity: IdentityResolver | None = None
    clock: Clock | None = None
    store: AudioStore | None = None
    track_index_wrapper: type[TrackIndex] | None = None
    repos: RepoClient | None = None
    resolve: Resolve | None = None  # DNS for the outbound client (a fake one in tests)


@dataclass(frozen=True)
class Assembled:
    """relay's object graph: what the HTTP layer reads from the lifespan state, and what
    ``relay ingest`` and ``relay backfill`` run without HTTP."""

    settings: Settings
    engine: AsyncEngine
    reads: Reads  # where the index's read-only statements run (on SQLite, reader threads)
    services: Services
    store: AudioStore
    oauth_login: OAuthLogin
    client_metadata: dict[str, Any]
    client_jwks: dict[str, Any]
    session_ttl: timedelta
    publisher: PublishWorker
    sync: SyncCoordinator
    metrics: RelayMetrics
    readiness: ReadinessProbe
    objects: AudioObjects
    index_version: IndexVersion


async def _open_store(settings: Settings, stack: AsyncExitStack) -> AudioStore:
    if settings.storage_backend == "filesystem":
        return FilesystemAudioStore(
            settings.data_dir / "audio", public_base_url=settings.resolved_public_url
        )
    # The settings validator guarantees these for the s3 backend.
    assert settings.s3_secret_access_key is not None
    assert settings.s3_bucket is not None
    assert settings.public_audio_base_url is not None
    # Imported only for this backend: the AWS SDK costs ~17 MB and ~0.3 s a process that
    # stores its audio on disk never needs.
    from relay.storage.s3 import S3AudioStore, s3_client

    client = await stack.enter_async_context(
        s3_client(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        )
    )
    return S3AudioStore(
        client,
        bucket=settings.s3_bucket,
        public_base_url=settings.public_audio_base_url,
        part_size=settings.s3_part_size,
    )


async def _open_engine(settings: Settings, stack: AsyncExitStack) -> AsyncEngine:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        pool_overflow=settings.database_pool_overflow,
    )
    stack.push_async_callback(engine.dispose)
    await ensure_migrated(engine, migrate=settings.auto_migrate)
    return engine


def load_lexicons(settings: Settings) -> LexiconCatalog:
    """The record lexicons relay needs, loaded and checked: a missing or invalid one stops relay
    at start, naming the problem (never an INTERNAL on the first upload)."""
    root = settings.lexicon_dir or default_lexicon_dir()
    try:
        catalog = LexiconCatalog.load(root)
        for nsid in REQUIRED_LEXICONS:
            catalog.schema(nsid)
    except (LexiconError, OSError, ValueError) as exc:
        message = f"{exc} (lexicons read from {root})"
        raise ConfigurationError(message, variable="RELAY_LEXICON_DIR") from exc
    return catalog


def _event_bus(
    settings: Settings, engine: AsyncEngine, db: async_sessionmaker[AsyncSession], clock: Clock
) -> EventBus:
    """Across processes on PostgreSQL (LISTEN/NOTIFY), within this one on SQLite."""
    local = TrackEventBus(settings.subscription_queue_size)
    if engine.dialect.name != "postgresql":
        return local
    return SharedEventBus(
        log_=EventLog(db),
        dsn=listen_dsn(engine),
        local=local,
        clock=clock,
        retention=timedelta(seconds=settings.event_log_retention_seconds),
        poll_seconds=settings.event_poll_seconds,
    )


def outbound_policy(settings: Settings) -> OutboundPolicy:
    if settings.allow_private_addresses and settings.is_production:
        log.warning(
            "RELAY_ALLOW_PRIVATE_ADDRESSES is on with an https public URL: handles and DID "
            "documents can make relay connect to internal addresses"
        )
    return OutboundPolicy(
        allow_private=settings.allow_private_addresses,
        max_response_bytes=settings.outbound_max_response_bytes,
        total_seconds=settings.outbound_total_timeout_seconds,
        timeout_seconds=settings.http_timeout_seconds,
        user_agent=f"relay/{version('relay')} (+{settings.resolved_public_url})",
    )


def playable_hosts(settings: Settings) -> frozenset[str]:
    """Audio hosts the API calls playable: configured ones plus relay's own store."""
    own = settings.public_audio_base_url or settings.resolved_public_url
    hosts = {host.lower() for host in settings.playable_audio_hosts}
    hosts.add((urlparse(own).hostname or "").lower())
    return frozenset(hosts - {""})


async def assemble(
    settings: Settings,
    stack: AsyncExitStack,
    *,
    collaborators: Collaborators | None = None,
    metrics: RelayMetrics | None = None,
) -> Assembled:
    inject = collaborators or Collaborators()
    metrics = metrics or RelayMetrics()
    engine = await _open_engine(settings, stack)
    db = session_factory(engine)
    http = await stack.enter_async_context(
        outbound_client(outbound_policy(settings), resolve=inject.resolve or system_resolve)
    )
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
    bounds = PageBounds(default_size=settings.default_page_size, max_size=settings.max_page_size)
    index_reads = reads_for(engine, threads=settings.sqlite_read_threads)
    if isinstance(index_reads, SqliteReads):
        stack.push_async_callback(index_reads.close)
    index = (inject.track_index_wrapper or TrackIndex)(db, bounds=bounds, reads=index_reads)
    lexicons = load_lexicons(settings)
    box = SecretBox(
        secret_key(settings), [old.get_secret_value() for old in settings.secret_key_previous]
    )
    client_config, client_document, client_keys = client_identity(settings)
    oauth = OAuthClient(
        http, client_config, clock, require_https=not settings.allow_private_addresses
    )
    session_ttl = timedelta(days=settings.session_ttl_days)
    sessions = SessionService(
        store=SessionStore(db),
        identity=identity,
        pds=pds,
        oauth=oauth,
        box=box,
        clock=clock,
        ttl=session_ttl,
        metrics=metrics,
    )
    events = _event_bus(settings, engine, db, clock)
    objects = AudioObjects(
        refs=AudioRefs(db),
        store=store,
        clock=clock,
        grace=timedelta(seconds=settings.audio_grace_seconds),
        removal_timeout=timedelta(seconds=settings.audio_removal_timeout_seconds),
        batch_size=settings.collector_batch_size,
    )
    leases = TrackLeases(clock, settings.track_lease_seconds)
    publishing = Publishing(
        index=index,
        sessions=sessions,
        pds=pds,
        lexicons=lexicons,
        clock=clock,
        metrics=metrics,
        retry=RetryPolicy(settings.publish_retry_base_seconds, settings.publish_retry_max_seconds),
        leases=leases,
        events=events,
    )
    uploads = TrackUploads(
        index=index,
        store=store,
        objects=objects,
        sessions=sessions,
        publishing=publishing,
        lexicons=lexicons,
        clock=clock,
        metrics=metrics,
        events=events,
        max_image_bytes=settings.max_image_bytes,
    )
    edits = TrackEdits(
        index=index,
        objects=objects,
        sessions=sessions,
        pds=pds,
        lexicons=lexicons,
        metrics=metrics,
        leases=leases,
        events=events,
        store=store,
        publishing=publishing,
        max_image_bytes=settings.max_image_bytes,
    )
    sync_store = SyncStore(db, one_writer=engine.dialect.name == "sqlite")
    stats = SyncStats()
    ingest = RecordIngest(
        lexicons=lexicons,
        clock=clock,
        stats=stats,
        events=events,
        bounds=RecordBounds(
            max_bytes=settings.max_record_bytes,
            max_future=timedelta(seconds=settings.max_record_future_seconds),
        ),
    )
    spool = settings.data_dir / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    repos = inject.repos or RepoClient(
        http,
        timeout=settings.repo_timeout_seconds,
        page_size=settings.repo_page_size,
        car=CarBounds(
            max_bytes=settings.backfill_max_car_bytes,
            max_blocks=settings.backfill_max_car_blocks,
            seconds=settings.backfill_car_seconds,
            spool_dir=spool,
        ),
    )
    backfill = Backfill(
        identity=identity,
        repos=repos,
        sync=sync_store,
        ingest=ingest,
        clock=clock,
        concurrency=settings.backfill_concurrency,
        on_removed=objects.collect_of,
        repo_timeout=settings.backfill_repo_timeout_seconds,
        max_host_repos=settings.backfill_max_host_repos,
    )
    coordinator = SyncCoordinator(backfill=backfill, sync=sync_store, stats=stats, clock=clock)
    if settings.firehose_url is not None:
        coordinator.firehose = FirehoseConsumer(
            settings.firehose_url,
            identity=identity,
            repos=repos,
            sync=sync_store,
            ingest=ingest,
            clock=clock,
            schedule_backfill=coordinator.schedule,
            on_removed=objects.collect_of,
            recv_timeout=settings.firehose_recv_timeout_seconds,
            reconnect_delay=settings.firehose_reconnect_seconds,
        )
    rate_limits = RateLimiter.from_url(
        settings.redis_url,
        RateRules(
            login_per_address=settings.rate_login_per_address,
            failed_logins_per_identifier=settings.rate_failed_logins_per_identifier,
            oauth_login_per_address=settings.rate_oauth_login_per_address,
            uploads_per_caller=settings.rate_uploads_per_caller,
            upload_bytes_per_caller=settings.rate_upload_bytes_per_caller,
            mutations_per_caller=settings.rate_mutations_per_caller,
        ),
        namespace=settings.rate_limit_namespace,
    )
    reads = TrackReads(index, clock)
    writer = RecordWriter(
        sync=sync_store, sessions=sessions, pds=pds, lexicons=lexicons, clock=clock,
        metrics=metrics, events=events,
    )  # fmt: skip
    likes = Likes(likes=LikeIndex(db), reads=reads, writer=writer, max_page=settings.max_page_size)
    lists = Lists(lists=ListIndex(db), reads=reads, writer=writer, max_page=settings.max_page_size)
    profiles = Profiles(
        profiles=ProfileIndex(db), repos=repos, public_url=settings.resolved_public_url
    )
    services = Services(
        reads=reads,
        likes=likes,
        lists=lists,
        profiles=profiles,
        uploads=uploads,
        publishing=publishing,
        edits=edits,
        sessions=sessions,
        sync=coordinator,
        events=events,
        limits=rate_limits,
        admins=frozenset(settings.admin_dids),
        playable_hosts=playable_hosts(settings),
        instance=InstanceInfo(
            max_upload_bytes=settings.max_upload_bytes,
            demo_handle=settings.demo_handle,
            demo_password=(
                settings.demo_password.get_secret_value() if settings.demo_password else None
            ),
        ),
    )
    oauth_login = OAuthLogin(
        oauth=oauth,
        identity=identity,
        requests=OAuthRequestStore(db),
        sessions=sessions,
        box=box,
        clock=clock,
        request_ttl=timedelta(seconds=settings.oauth_request_ttl_seconds),
        app_redirects=settings.oauth_app_redirects,
    )
    publisher = PublishWorker(
        index=index,
        publishing=publishing,
        edits=edits,
        clock=clock,
        interval=settings.publish_worker_interval_seconds,
        batch_size=settings.publish_batch_size,
    )
    index_version = IndexVersion(engine, recheck_seconds=settings.response_cache_recheck_seconds)
    stack.callback(index_version.close)
    return Assembled(
        index_version=index_version,
        settings=settings,
        engine=engine,
        reads=index_reads,
        services=services,
        store=store,
        oauth_login=oauth_login,
        client_metadata=client_document,
        client_jwks=client_keys,
        session_ttl=session_ttl,
        publisher=publisher,
        sync=coordinator,
        metrics=metrics,
        objects=objects,
        readiness=ReadinessProbe(
            engine=engine,
            store=store,
            lexicons=lexicons,
            required_lexicons=REQUIRED_LEXICONS,
            timeout=settings.readiness_timeout_seconds,
        ),
    )
