"""Shared fixtures: the real sandbox PDS, radosgw, SQLite and PostgreSQL, relay over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.db.engine import create_engine, ensure_migrated, session_factory
from relay.sandbox import Account, LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.audio import make_audio
from tests.harness.client import RelayClient
from tests.harness.postgres import scratch_database
from tests.harness.radosgw import RadosGateway
from tests.harness.server import RunningRelay, run_relay

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    """One reference PDS + PLC directory for the whole run."""
    net = LocalNetwork(
        tmp_path_factory.mktemp("network"), plc_port=free_port(), pds_port=free_port()
    )
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="session")
def accounts(network: LocalNetwork) -> dict[str, Account]:
    return {name: network.create_account(f"{name}.test") for name in ("alice", "bob", "carol")}


@pytest.fixture(scope="session")
def radosgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadosGateway]:
    """A real S3-compatible server (started only by tests that ask for it)."""
    gw = RadosGateway.start(tmp_path_factory.mktemp("radosgw"))
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every DB test runs on SQLite and on the PostgreSQL server of the machine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
        return
    async with scratch_database() as url:
        yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of a migrated, empty database (on each of SQLite and PostgreSQL)."""
    engine = create_engine(database_url)
    try:
        await ensure_migrated(engine, migrate=True)
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def relay_settings(database_url: str, tmp_path: Path, network: LocalNetwork) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database_url,
        auto_migrate=True,
        plc_url=network.plc_url,
        handle_resolver_url=network.pds_url,
        # The sandbox PLC and PDS listen on 127.0.0.1 (production refuses such addresses).
        allow_private_addresses=True,
        pds_timeout_seconds=5,
        publish_retry_base_seconds=0.3,
        publish_retry_max_seconds=2,
        publish_worker_interval_seconds=0.2,
        max_upload_bytes=20 * 1024 * 1024,
        # Unreferenced audio goes at once (the tests check it is gone after a delete); the
        # grace period protecting uploads in flight has tests of its own.
        audio_grace_seconds=0,
        collector_interval_seconds=0.5,
    )


@pytest.fixture
async def relay(relay_settings: Settings) -> AsyncIterator[RunningRelay]:
    async with run_relay(relay_settings) as running:
        yield running


@pytest.fixture
async def client(relay: RunningRelay) -> AsyncIterator[RelayClient]:
    async with relay.client() as c:
        yield c


@pytest.fixture
async def alice(client: RelayClient, accounts: dict[str, Account]) -> str:
    """A session token of alice."""
    return await client.login(accounts["alice"].handle, accounts["alice"].password)


@pytest.fixture
async def bob(client: RelayClient, accounts: dict[str, Account]) -> str:
    return await client.login(accounts["bob"].handle, accounts["bob"].password)


@pytest.fixture
async def carol(client: RelayClient, accounts: dict[str, Account]) -> str:
    return await client.login(accounts["carol"].handle, accounts["carol"].password)


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audio")
    return {
        fmt: make_audio(root / f"tone.{fmt}", fmt, seconds=3, freq=330)
        for fmt in ("mp3", "wav", "ogg", "flac", "aiff")
    }
