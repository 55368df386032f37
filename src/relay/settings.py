"""relay's configuration: environment variables (and ``.env``) with the ``RELAY_`` prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from relay.errors import ConfigurationError

ENV_PREFIX = "RELAY_"
# Lists come from the environment as "a,b,c" (or a JSON array): decoded by _comma_list, not JSON.
CommaList = Annotated[list[str], NoDecode]


def _check_http_url(value: str | None, *, allow_none: bool = True) -> str | None:
    if value is None:
        if allow_none:
            return None
        raise ValueError("is required")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


_STREAM_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def firehose_source(value: str) -> str:
    """A firehose as operators write it — ``wss://host``, ``wss://host/xrpc``, ``https://host``
    (or the full ``…/xrpc/com.atproto.sync.subscribeRepos``) — as relay follows it:
    ``ws(s)://host[:port]/xrpc``."""
    parsed = urlparse(value.strip())
    scheme = _STREAM_SCHEMES.get(parsed.scheme)
    if scheme is None or not parsed.hostname:
        raise ValueError(f"must be a wss://, ws:// or https:// URL of a PDS or relay: {value!r}")
    path = parsed.path.rstrip("/").removesuffix("/com.atproto.sync.subscribeRepos")
    if path not in ("", "/xrpc") or parsed.query or parsed.fragment:
        raise ValueError(
            f"must name a host (optionally ending in /xrpc), got {value!r}; relay adds the method"
        )
    return f"{scheme}://{parsed.netloc}/xrpc"


class Settings(BaseSettings):
    """Validated settings; build with :func:`load_settings` to get errors that name variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    # PostgreSQL connections each process keeps open (and how many more it opens in a burst,
    # closed again when returned): the pool's default of 5 made a loaded API open and close a
    # connection for most of its queries.
    database_pool_size: int = Field(default=20, ge=1)
    database_pool_overflow: int = Field(default=10, ge=0)
    auto_migrate: bool = False
    lexicon_dir: Path | None = None
    graphiql_dir: Path | None = None  # the built GraphiQL bundle (default: inside the package)
    web_dir: Path | None = None  # the built web app (default: inside the package)
    # Shown on the sign-in page of a sandbox (`relay dev`); never set these in production.
    demo_handle: str | None = None
    demo_password: SecretStr | None = None

    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "auto"
    s3_part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)
    public_audio_base_url: str | None = None

    public_url: str | None = None
    plc_url: str = "https://plc.directory"
    handle_resolver_url: str | None = None
    identity_timeout_seconds: float = Field(default=5.0, gt=0)
    pds_timeout_seconds: float = Field(default=15.0, gt=0)

    max_upload_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
    # Artwork sent with a track (made a 1000x1000 JPEG): a phone photo fits, a poster does not.
    max_image_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Bounds on what clients and the network send. Each is a setting so an operator can tighten it.
    # Text fields of a multipart upload (operations, map): JSON documents, never megabytes.
    max_form_field_bytes: int = Field(default=1024 * 1024, gt=0)
    # Files in one multipart request: uploadTrack takes one; a few more leave room for batching.
    max_upload_files: int = Field(default=10, ge=1)
    # Headers of one multipart part (Content-Disposition with the file name, Content-Type).
    max_part_header_bytes: int = Field(default=8 * 1024, ge=256)
    # Tracks per connection page: `first`/`last` above the max are refused, absent means default.
    max_page_size: int = Field(default=100, ge=1)
    default_page_size: int = Field(default=20, ge=1)
    # What one GraphQL document may ask (refused before anything runs, QUERY_TOO_COMPLEX): nesting
    # depth, aliases, tokens, and a cost that counts each field once per item of the pages
    # around it (a page given by a variable counts as MAX_PAGE_SIZE). The web app's largest
    # query costs about 600; a page of 100 tracks with every field about 2,500.
    max_query_depth: int = Field(default=12, ge=2)
    max_query_aliases: int = Field(default=20, ge=0)
    max_query_tokens: int = Field(default=5000, ge=100)
    max_query_cost: int = Field(default=5000, ge=10)
    # JSON request bodies (not uploads) over this are refused with 413.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Answers to anonymous queries kept in memory (0: none), each up to the given size, until
    # the index changes: this process's writes at once, another process's within the recheck
    # time (PostgreSQL; on SQLite at once).
    response_cache_entries: int = Field(default=2000, ge=0)
    response_cache_entry_bytes: int = Field(default=1024 * 1024, ge=1024)
    # …and never longer than this: an answer can depend on the time (POPULAR's 7-day window).
    response_cache_max_age_seconds: float = Field(default=60.0, gt=0)
    # On SQLite, threads that run the index's read-only statements (pages, counts, lookups) on
    # their own connections (0: on the async engine, as writes are).
    sqlite_read_threads: int = Field(default=4, ge=0, le=64)
    response_cache_recheck_seconds: float = Field(default=0.25, gt=0)
    # Rate limits ("N/second|minute|hour|day", the `limits` notation), per client address or per
    # signed-in account; shared by every replica through Redis when RELAY_REDIS_URL is set.
    redis_url: str | None = None
    rate_limit_namespace: str = "relay"  # keys in Redis start with it (one per deployment)
    rate_login_per_address: str = "10/minute"
    rate_failed_logins_per_identifier: str = "20/minute"
    rate_oauth_login_per_address: str = "20/minute"
    rate_uploads_per_caller: str = "30/hour"
    rate_upload_bytes_per_caller: str = "2147483648/hour"
    rate_mutations_per_caller: str = "120/minute"
    # A record from the network larger than this (as JSON) is dropped: tracks are a few hundred
    # bytes; 16 KiB leaves room for long titles without letting one record cost megabytes.
    max_record_bytes: int = Field(default=16 * 1024, gt=0)
    # A record whose createdAt is further ahead than this is dropped (clock skew allowance).
    max_record_future_seconds: int = Field(default=600, ge=0)
    # Records per listRecords/listRepos request during backfill (100 is the lexicon's maximum).
    repo_page_size: int = Field(default=100, ge=1, le=100)
    repo_timeout_seconds: float = Field(default=30.0, gt=0)
    # Events a slow subscription may fall behind before it loses the oldest.
    subscription_queue_size: int = Field(default=1000, ge=1)
    # A firehose silent this long is reconnected; a dropped one is retried after the delay.
    firehose_recv_timeout_seconds: float = Field(default=60.0, gt=0)
    firehose_reconnect_seconds: float = Field(default=2.0, gt=0)
    # PostgreSQL: how long changes stay in the event log for other processes, and how often each
    # process reads it even without a notification (a safety net for a lost connection).
    event_log_retention_seconds: int = Field(default=3600, ge=60)
    event_poll_seconds: float = Field(default=2.0, gt=0)
    # Audio no track uses is removed after this grace (uploads of the same bytes in flight keep
    # it); the collector looks every interval; a removal not finished in the timeout is retried.
    audio_grace_seconds: float = Field(default=600.0, ge=0)
    collector_interval_seconds: float = Field(default=60.0, gt=0)
    collector_batch_size: int = Field(default=100, ge=1)
    audio_removal_timeout_seconds: float = Field(default=120.0, gt=0)
    # How long a publish, update or delete holds a track; it must outlive every PDS call it makes
    # (a refresh and a write), so it lapses only when its process died.
    track_lease_seconds: float = Field(default=120.0, gt=0)
    # Tracks the publish worker retries per pass.
    publish_batch_size: int = Field(default=20, ge=1)
    # Each /readyz check (database, audio store) must answer within this.
    readiness_timeout_seconds: float = Field(default=3.0, gt=0)
    # Outbound HTTP (identity, DID documents, PDS and authorization-server calls, backfill) goes
    # through one client: each step (connect, each read) within the timeout unless a call sets its
    # own, the whole request within the total, the body within the size cap. Loopback, private,
    # link-local and CGNAT addresses are refused unless allowed — for development and tests only,
    # where the PLC and PDS listen on 127.0.0.1 (`relay dev` allows them).
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    outbound_total_timeout_seconds: float = Field(default=45.0, gt=0)
    outbound_max_response_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    allow_private_addresses: bool = False
    publish_retry_base_seconds: float = Field(default=5.0, gt=0)
    publish_retry_max_seconds: float = Field(default=600.0, gt=0)
    publish_worker_interval_seconds: float = Field(default=2.0, gt=0)
    session_ttl_days: int = Field(default=30, gt=0)
    secret_key: SecretStr | None = None
    # Keys used before a rotation: values they sealed stay readable (comma-separated).
    secret_key_previous: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    oauth_scope: str = "atproto repo:app.relay.track repo:app.relay.like repo:app.relay.list"
    oauth_client_key: SecretStr | None = None
    oauth_app_redirects: CommaList = Field(default_factory=list)
    oauth_request_ttl_seconds: int = Field(default=600, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    firehose_url: str | None = None
    # When set, GET /metrics answers only 'Authorization: Bearer <this>' (a Prometheus scraper).
    metrics_token: SecretStr | None = None
    admin_dids: CommaList = Field(default_factory=list)
    playable_audio_hosts: CommaList = Field(default_factory=list)
    backfill_concurrency: int = Field(default=8, ge=1, le=64)
    # One repo's backfill (identity, every page, the writes) must finish within this.
    backfill_repo_timeout_seconds: float = Field(default=600.0, gt=0)
    # The firehose's host, backfilled when relay has no cursor for it, may list at most this
    # many repos when it cannot list them by collection (a PDS can; the whole network cannot).
    backfill_max_host_repos: int = Field(default=10_000, ge=1)
    # A repo fetched as one CAR (backfill useCar): spooled to disk under data_dir/tmp as it
    # arrives, at most this big, this many blocks (each costs an index entry in memory) and
    # this long to download.
    backfill_max_car_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    backfill_max_car_blocks: int = Field(default=500_000, ge=1000)
    backfill_car_seconds: float = Field(default=300.0, gt=0)

    @field_validator(
        "s3_endpoint_url", "public_audio_base_url", "public_url", "handle_resolver_url"
    )
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("firehose_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else firehose_source(value)

    @field_validator(
        "oauth_app_redirects",
        "admin_dids",
        "playable_audio_hosts",
        "secret_key_previous",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator(
        "rate_login_per_address",
        "rate_failed_logins_per_identifier",
        "rate_oauth_login_per_address",
        "rate_uploads_per_caller",
        "rate_upload_bytes_per_caller",
        "rate_mutations_per_caller",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"must read like '10/minute', got {value!r}") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError(f"must be a redis:// or rediss:// URL, got {value!r}")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("plc_url")
    @classmethod
    def _required_url(cls, value: str) -> str:
        checked = _check_http_url(value, allow_none=False)
        assert checked is not None
        return checked

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return value

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.storage_backend == "s3":
            for name in ("s3_bucket", "s3_access_key_id", "s3_secret_access_key"):
                if getattr(self, name) is None:
                    raise ValueError(f"{ENV_PREFIX}{name.upper()} is required when storage is s3")
            if self.public_audio_base_url is None:
                raise ValueError(
                    f"{ENV_PREFIX}PUBLIC_AUDIO_BASE_URL is required when storage is s3 "
                    "(the public URL prefix of the bucket, e.g. https://pub-….r2.dev)"
                )
        return self

    @model_validator(mode="after")
    def _lease_outlives_pds_calls(self) -> Settings:
        if self.track_lease_seconds < 3 * self.pds_timeout_seconds:
            raise ValueError(
                f"{ENV_PREFIX}TRACK_LEASE_SECONDS must be at least 3 x "
                f"{ENV_PREFIX}PDS_TIMEOUT_SECONDS (a refresh, a write and a retry)"
            )
        return self

    @model_validator(mode="after")
    def _no_demo_account_in_production(self) -> Settings:
        if self.is_production and (self.demo_handle or self.demo_password):
            raise ValueError(
                f"{ENV_PREFIX}DEMO_HANDLE / {ENV_PREFIX}DEMO_PASSWORD are for `relay dev` only; "
                "an https public URL means real users"
            )
        return self

    @model_validator(mode="after")
    def _no_plain_firehose_in_production(self) -> Settings:
        # Anyone on the path of a ws:// stream can drop or reorder events (signatures and proofs
        # stop them from changing records, not from hiding them).
        if self.is_production and (self.firehose_url or "").startswith("ws://"):
            raise ValueError(
                f"{ENV_PREFIX}FIREHOSE_URL must be wss:// (or https://) with an https public URL"
            )
        return self

    @model_validator(mode="after")
    def _page_sizes(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError(
                f"{ENV_PREFIX}DEFAULT_PAGE_SIZE must not exceed {ENV_PREFIX}MAX_PAGE_SIZE"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'relay.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def is_production(self) -> bool:
        """An https public URL means real users: keys must come from configuration."""
        return self.resolved_public_url.startswith("https://")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; invalid values raise ``ConfigurationError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:
        raise ConfigurationError(str(exc), variable="settings") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        variable = f"{ENV_PREFIX}{field.upper()}" if first["loc"] else "settings"
        raise ConfigurationError(str(first["msg"]), variable=variable) from exc
