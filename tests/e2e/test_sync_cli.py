"""`relay backfill` and `relay ingest` as a deployment runs them: separate processes, one DB."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from relay.sandbox import LocalNetwork
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, track_record
from tests.harness.server import run_relay

COUNT = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RELAY_DATA_DIR": str(settings.data_dir),
        "RELAY_DATABASE_URL": settings.resolved_database_url,
        "RELAY_PLC_URL": settings.plc_url,
        "RELAY_HANDLE_RESOLVER_URL": settings.handle_resolver_url or "",
        "RELAY_AUTO_MIGRATE": "true",
        "COLUMNS": "200",
        **extra,
    }


async def test_backfill_command(relay_settings: Settings, network: LocalNetwork) -> None:
    musician = network.create_account(f"c{secrets.token_hex(3)}.test")
    for i in range(3):
        create_record(network, musician, track_record(f"CLI {i}"))
    create_record(network, musician, track_record("y" * 300))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay.cli", "backfill", "--handle", musician.handle,
        env=_env(relay_settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
    output = stdout.decode()
    assert proc.returncode == 0, output
    assert "1 repos" in output and "3 new" in output and "1 invalid" in output
    async with run_relay(relay_settings) as relay:
        client = RelayClient(relay.url)
        try:
            count = await client.gql(COUNT, {"d": musician.did})
        finally:
            await client.aclose()
    assert count.data["tracks"]["totalCount"] == 3


def test_backfill_command_needs_repos(relay_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay.cli", "backfill"],
        env=_env(relay_settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "--did" in result.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_ingester_feeds_an_api_process(
    relay_settings: Settings, network: LocalNetwork
) -> None:
    firehose = f"ws://localhost:{network.pds_port}/xrpc"
    ingester = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay.cli", "ingest",
        env=_env(relay_settings, RELAY_FIREHOSE_URL=firehose),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with run_relay(relay_settings) as api:  # no firehose of its own
            client = RelayClient(api.url)
            try:
                musician = network.create_account(f"i{secrets.token_hex(3)}.test")
                deadline = time.monotonic() + 30
                while True:
                    create_record(network, musician, track_record("Via ingest"))
                    count = await client.gql(COUNT, {"d": musician.did})
                    if count.data["tracks"]["totalCount"] >= 1:
                        break
                    assert ingester.returncode is None, "the ingester exited"
                    assert time.monotonic() < deadline, "the ingester never indexed the record"
                    await asyncio.sleep(1)
            finally:
                await client.aclose()
    finally:
        ingester.send_signal(signal.SIGINT)
        await asyncio.wait_for(ingester.wait(), 30)


def test_ingest_without_a_firehose_url_says_so(relay_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay.cli", "ingest"],
        env=_env(relay_settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "RELAY_FIREHOSE_URL" in result.stderr
