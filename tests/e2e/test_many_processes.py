"""Many processes, one PostgreSQL index: every trackEvents subscriber on any process sees every
change — relay's own writes made on another replica, and what a separate ingester indexed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from relay.sandbox import Account, LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, track_record
from tests.harness.processes import relay_process, until_serving
from tests.harness.server import RunningRelay, run_relay
from tests.harness.subscriptions import GraphQLSubscription
from tests.harness.waiting import eventually

EVENTS = "subscription { trackEvents { kind uri track { title publishState } } }"


async def _until(
    subscription: GraphQLSubscription, uri: str, kind: str, timeout: float = 20
) -> dict[str, Any]:
    """The next event of ``kind`` for ``uri`` (others — e.g. other tests' — are skipped)."""
    while True:
        event: dict[str, Any] = (await subscription.next(timeout))["trackEvents"]
        if event["uri"] == uri and event["kind"] == kind:
            return event


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_subscribers_see_writes_of_other_replicas_and_of_the_ingester(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    firehose = f"ws://localhost:{network.pds_port}"
    replica_a = relay_settings.model_copy(update={"data_dir": relay_settings.data_dir / "a"})
    replica_b = relay_settings.model_copy(update={"data_dir": relay_settings.data_dir / "b"})
    async with (
        run_relay(replica_a) as a,
        run_relay(replica_b) as b,
        b.client(accounts["alice"]) as uploader,
        relay_process(replica_b, "ingest", RELAY_FIREHOSE_URL=firehose) as ingester,
    ):
        # The uploader listens (a draft's CREATED is hers alone to see).
        on_a = await GraphQLSubscription.open(a.url, EVENTS, token=uploader.token)
        try:
            track = (await uploader.upload(audio_files["mp3"], title="Made on B")).data[
                "uploadTrack"
            ]
            created = await _until(on_a, track["uri"], "CREATED")
            assert created["track"]["title"] == "Made on B"
            published = await _until(on_a, track["uri"], "UPDATED")
            assert published["track"]["publishState"] == "PUBLISHED"

            musician = network.create_account(f"m{secrets.token_hex(3)}.test")

            async def ingested() -> dict[str, Any] | None:
                assert ingester.returncode is None, "the ingester exited"
                # The ingester may still be connecting: write until one write comes through.
                made = await create_record(network, musician, track_record("Via the ingester"))
                try:
                    return await _until(on_a, made["uri"], "CREATED", timeout=5)
                except TimeoutError:
                    return None

            event = await eventually(ingested, timeout=40, interval=0, what="an ingested event")
            assert event["track"]["title"] == "Via the ingester"
        finally:
            await on_a.close()


def refreshes(relay: RunningRelay) -> dict[str, int]:
    """relay_token_refreshes_total of one process, by outcome."""
    (metric,) = relay.parts.metrics.token_refreshes.collect()
    counted = metric.samples
    return {s.labels["outcome"]: int(s.value) for s in counted if s.name.endswith("_total")}


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_token_refresh_is_made_once_across_processes(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    """A refreshes the session's tokens; B, still holding the old ones, is then forced to
    refresh: it takes A's tokens instead of using the spent refresh token again."""
    async with (
        run_relay(relay_settings) as a,
        run_relay(relay_settings) as b,
        a.client(accounts["carol"]) as on_a,
    ):
        token = on_a.token
        assert token is not None
        sessions_a = a.parts.services.sessions
        sessions_b = b.parts.services.sessions
        viewer = await sessions_b.authenticate(token)
        held_by_b = await sessions_b.auth_for_viewer(viewer)  # B loads the tokens
        old_refresh = held_by_b.grant.refresh_token

        on_a_auth = await sessions_a.auth_for_viewer(viewer)
        rotated = await on_a_auth.after_rejection(on_a_auth.grant.access_token)
        assert rotated.refresh_token != old_refresh  # A refreshed at the PDS

        # B is told its (old) access token was refused: it must not spend old_refresh again.
        after = await held_by_b.after_rejection(held_by_b.grant.access_token)
        assert after.refresh_token == rotated.refresh_token
        assert after.access_token == rotated.access_token
        assert refreshes(a) == {"refreshed": 1}  # the PDS saw one refresh, from A
        assert refreshes(b) == {"adopted": 1}  # B took A's tokens

        # The session lives on, on both processes.
        done = await on_a.upload(audio_files["flac"], title="After A's refresh")
        assert done.data["uploadTrack"]["publishState"] == "PUBLISHED"
        async with b.client() as on_b:
            on_b.token = token
            also = await on_b.upload(audio_files["ogg"], title="After B's turn")
            assert also.data["uploadTrack"]["publishState"] == "PUBLISHED"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_serve_with_workers_runs_that_many_api_processes(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    async with _serving_workers(relay_settings, path="/readyz") as (url, proc):
        assert len(_workers(proc.pid)) == 2
        async with RelayClient(url) as client:
            client.token = await client.login(accounts["bob"].handle, accounts["bob"].password)
            on_a = await GraphQLSubscription.open(url, EVENTS, token=client.token)
            try:
                track = (await client.upload(audio_files["mp3"], title="Two workers")).data[
                    "uploadTrack"
                ]
                # Whichever worker handled the upload, the subscriber's worker hears of it.
                created = await _until(on_a, track["uri"], "CREATED")
                assert created["track"]["title"] == "Two workers"
            finally:
                await on_a.close()


@asynccontextmanager
async def _serving_workers(
    settings: Settings, *, path: str = "/healthz"
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``relay serve --workers 2`` on a free port, answering at ``path``: its URL and process."""
    port = free_port()
    async with relay_process(settings, "serve", "--workers", "2", RELAY_PORT=str(port)) as proc:
        url = f"http://127.0.0.1:{port}"
        await until_serving(url, proc, path=path)
        yield url, proc


def _workers(supervisor: int) -> list[psutil.Process]:
    """The worker processes of a ``relay serve --workers`` (not multiprocessing's helpers)."""
    found = []
    for child in psutil.Process(supervisor).children():
        with contextlib.suppress(psutil.Error):  # e.g. a dead worker not yet reaped
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child)
    return found


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_workers_share_the_connections_of_many_clients(relay_settings: Settings) -> None:
    """Each worker listens on its own socket (SO_REUSEPORT): many keep-alive clients connecting
    at once are spread over the workers, not all handed to the first one waiting in accept."""
    async with _serving_workers(relay_settings, path="/readyz") as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        workers = _workers(proc.pid)
        assert len(workers) == 2
        clients = [httpx.AsyncClient(base_url=url) for _ in range(24)]
        try:
            answers = await asyncio.gather(*(c.get("/healthz") for c in clients))
            assert all(a.status_code == 200 for a in answers)

            def serving(worker: psutil.Process) -> int:
                return sum(
                    1
                    for c in worker.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
                )

            counts = [serving(w) for w in workers]
            assert sum(counts) == 24
            assert min(counts) >= 4, counts  # hashed: about half each, never all on one
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_worker_that_dies_is_replaced(relay_settings: Settings) -> None:
    async with _serving_workers(relay_settings) as (url, proc):
        first, second = _workers(proc.pid)
        await asyncio.sleep(5)  # past the start-up window, where a death stops the supervisor
        first.kill()

        async def replaced() -> bool:
            pids = {p.pid for p in _workers(proc.pid)}
            return len(pids) == 2 and first.pid not in pids and second.pid in pids

        await eventually(replaced, timeout=30, interval=0.5, what="a new worker")
        await until_serving(url, proc)
    assert proc.returncode == 0
