"""Fixtures shared by end-to-end tests: relay following the sandbox PDS's firehose, and relay
with an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_firehose import firehose_settings, warm_up
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay


@pytest.fixture
async def live(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> AsyncIterator[tuple[RunningRelay, RelayClient]]:
    settings = firehose_settings(relay_settings, network, accounts["alice"])
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        await warm_up(client, network)
        yield relay, client


@pytest.fixture
async def admin_relay(
    relay_settings: Settings, accounts: dict[str, Account]
) -> AsyncIterator[RelayClient]:
    """relay with alice as its admin, and a client signed in as alice."""
    settings = relay_settings.model_copy(update={"admin_dids": [accounts["alice"].did]})
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        yield client
