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


class Settings(BaseSettings):
    """Validated settings; build with :func:`load_settings` to get errors that name variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    auto_migrate: bool = False
    lexicon_dir: Path | None = None
    graphiql_dir: Path | None = None  # the built GraphiQL bundle (frontend/graphiql/dist)
    web_dir: Path | None = None  # the built web app (frontend/app/build)
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
    publish_retry_base_seconds: float = Field(default=5.0, gt=0)
    publish_retry_max_seconds: float = Field(default=600.0, gt=0)
    publish_worker_interval_seconds: float = Field(default=2.0, gt=0)
    session_ttl_days: int = Field(default=30, gt=0)
    secret_key: SecretStr | None = None
    oauth_scope: str = "atproto repo:app.relay.track"
    oauth_client_key: SecretStr | None = None
    oauth_app_redirects: CommaList = Field(default_factory=list)
    oauth_request_ttl_seconds: int = Field(default=600, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    firehose_url: str | None = None
    admin_dids: CommaList = Field(default_factory=list)
    playable_audio_hosts: CommaList = Field(default_factory=list)
    backfill_concurrency: int = Field(default=8, ge=1, le=64)

    @field_validator(
        "s3_endpoint_url", "public_audio_base_url", "public_url", "handle_resolver_url"
    )
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("firehose_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("ws", "wss") or not parsed.netloc:
            raise ValueError(f"must be a ws:// or wss:// URL ending in /xrpc, got {value!r}")
        return value.rstrip("/")

    @field_validator("oauth_app_redirects", "admin_dids", "playable_audio_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
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
