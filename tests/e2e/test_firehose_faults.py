"""Infrastructure faults while following the firehose: an identity service that fails is asked
again; one that keeps failing costs the event, never the record — its repo is backfilled once the
service answers. The cursor only moves past events that were applied or deliberately dropped."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from relay.assembly import Collaborators
from relay.atproto.identity import AtprotoIdentityResolver, Identity
from relay.errors import UpstreamError
from relay.net.outbound import OutboundPolicy, outbound_client
from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_firehose import TRACK, firehose_settings, status, warm_up
from tests.harness.pds import create_record, track_record
from tests.harness.server import run_relay
from tests.harness.waiting import eventually


class FakeFailingIdentity:
    """The real resolver, except that lookups of the DIDs in ``failing`` fail (an identity
    service that is down for them) ``failures`` times — a fault the sandbox PLC will not stage."""

    def __init__(self, inner: AtprotoIdentityResolver) -> None:
        self.inner = inner
        self.failing: dict[str, int] = {}
        self.refused = 0
        self.asked: Counter[str] = Counter()

    async def resolve(self, identifier: str) -> Identity:
        self.asked[identifier] += 1
        left = self.failing.get(identifier, 0)
        if left > 0:
            self.failing[identifier] = left - 1
            self.refused += 1
            raise UpstreamError(f"the DID document of {identifier} could not be fetched")
        return await self.inner.resolve(identifier)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def identity(network: LocalNetwork) -> AsyncIterator[FakeFailingIdentity]:
    async with outbound_client(OutboundPolicy(allow_private=True)) as http:
        inner = AtprotoIdentityResolver(
            plc_url=network.plc_url, http=http, handle_resolver_url=network.pds_url
        )
        yield FakeFailingIdentity(inner)


async def test_identity_failures_are_retried_then_backfilled(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    identity: FakeFailingIdentity,
) -> None:
    settings = firehose_settings(
        relay_settings, network, accounts["alice"], admin_dids=[accounts["alice"].did]
    )
    async with (
        run_relay(settings, Collaborators(identity=identity)) as relay,
        relay.client(accounts["alice"]) as client,
    ):
        await warm_up(client, network)

        async def indexed(uri: str) -> bool:
            return (await client.gql(TRACK, {"u": uri})).data["track"] is not None

        async def settled(account: Account) -> None:
            # A new account's #sync event has relay read its (empty) repo: a lookup of its own.
            async def asked() -> bool:
                return identity.asked[account.did] >= 1

            await eventually(asked, what="the #sync backfill")

        # Two failures: the third try answers, and the event is applied as it came.
        brief = network.create_account(f"r{secrets.token_hex(3)}.test")
        await settled(brief)
        identity.failing[brief.did] = 2
        made = await create_record(network, brief, track_record("Retried"))
        await eventually(lambda: indexed(made["uri"]), what="the retried event applied")
        assert identity.failing[brief.did] == 0

        # Down for longer than the retries: the event is dropped, counted, and the repo is
        # backfilled — whose own lookups succeed once the service is back.
        down = network.create_account(f"s{secrets.token_hex(3)}.test")
        await settled(down)
        identity.failing[down.did] = 3
        lost = await create_record(network, down, track_record("Backfilled"))

        async def counted() -> bool:
            drops = {d["name"]: d["count"] for d in (await status(client))["dropped"]}
            return bool(drops.get("identity_unavailable", 0) >= 1)

        await eventually(counted, what="the drop counted")
        await eventually(lambda: indexed(lost["uri"]), what="the repo backfilled")
