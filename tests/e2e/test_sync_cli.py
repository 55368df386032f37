"""`relay backfill` and `relay ingest` as a deployment runs them: separate processes, one DB."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys

import pytest

from relay.sandbox import LocalNetwork
from relay.settings import Settings
from tests.harness.pds import create_record, track_record
from tests.harness.processes import relay_env, relay_process
from tests.harness.server import run_relay
from tests.harness.waiting import eventually

COUNT = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"


async def test_backfill_command(relay_settings: Settings, network: LocalNetwork) -> None:
    musician = network.create_account(f"c{secrets.token_hex(3)}.test")
    for i in range(3):
        await create_record(network, musician, track_record(f"CLI {i}"))
    await create_record(network, musician, track_record("y" * 300))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay.cli", "backfill", "--handle", musician.handle,
        env=relay_env(relay_settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
    output = stdout.decode()
    assert proc.returncode == 0, output
    assert "1 repos" in output and "3 new" in output and "1 invalid" in output
    async with run_relay(relay_settings, in_process=True) as relay, relay.client() as client:
        count = await client.gql(COUNT, {"d": musician.did})
    assert count.data["tracks"]["totalCount"] == 3


def test_backfill_command_needs_repos(relay_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay.cli", "backfill"],
        env=relay_env(relay_settings),
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
    firehose = f"http://localhost:{network.pds_port}"  # the https://host form, on loopback
    async with (
        relay_process(relay_settings, "ingest", RELAY_FIREHOSE_URL=firehose) as ingester,
        # The API process has no firehose of its own.
        run_relay(relay_settings, in_process=True) as api,
        api.client() as client,
    ):
        musician = network.create_account(f"i{secrets.token_hex(3)}.test")

        async def indexed_by_the_ingester() -> bool:
            assert ingester.returncode is None, "the ingester exited"
            await create_record(network, musician, track_record("Via ingest"))
            count = await client.gql(COUNT, {"d": musician.did})
            return bool(count.data["tracks"]["totalCount"] >= 1)

        await eventually(
            indexed_by_the_ingester, timeout=30, interval=1, what="the ingester indexing"
        )


def test_ingest_without_a_firehose_url_says_so(relay_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "relay.cli", "ingest"],
        env=relay_env(relay_settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "RELAY_FIREHOSE_URL" in result.stderr
