"""Live ingest from the real PDS's firehose: writes made by other clients, straight on the PDS."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.forging_firehose import FORGED_TITLE, FakeForgingFirehose
from tests.harness.pds import account_call, create_record, delete_record, put_record, track_record
from tests.harness.server import RunningRelay, run_relay
from tests.harness.subscriptions import GraphQLSubscription

STATUS = "{ syncStatus { events applied cursors { source cursor } dropped { name count } } }"
TRACK = "query($u: String!) { track(uri: $u) { title artistHandle cid } }"
COUNT = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"
EVENTS = """
subscription($did: String!) {
  trackEvents(where: {artistDid: $did}) { kind uri track { title } }
}
"""


def firehose_settings(base: Settings, network: LocalNetwork, admin: Account) -> Settings:
    return base.model_copy(
        update={
            "firehose_url": f"ws://localhost:{network.pds_port}/xrpc",
            "admin_dids": [admin.did],
        }
    )


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.1)


async def status(client: RelayClient, token: str) -> dict[str, Any]:
    result: dict[str, Any] = (await client.gql(STATUS, token=token)).data["syncStatus"]
    return result


async def warm_up(client: RelayClient, token: str, network: LocalNetwork) -> None:
    """Until relay has applied an event from the live stream (so it is connected)."""
    before = (await status(client, token))["events"]

    async def seen() -> bool:
        create_record(
            network, network.create_account(f"w{secrets.token_hex(3)}.test"), track_record("warm")
        )
        await asyncio.sleep(0.3)
        return bool((await status(client, token))["events"] > before)

    await eventually(seen)


@pytest.fixture
async def live(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> AsyncIterator[tuple[RunningRelay, RelayClient, str]]:
    async with run_relay(firehose_settings(relay_settings, network, accounts["alice"])) as relay:
        client = RelayClient(relay.url)
        try:
            token = await client.login("alice.test", accounts["alice"].password)
            await warm_up(client, token, network)
            yield relay, client, token
        finally:
            await client.aclose()


async def test_creates_updates_and_deletes_arrive_in_queries_and_subscriptions(
    live: tuple[RunningRelay, RelayClient, str], network: LocalNetwork
) -> None:
    relay, client, _ = live
    musician = network.create_account(f"f{secrets.token_hex(3)}.test")
    subscription = await GraphQLSubscription.open(relay.url, EVENTS, {"did": musician.did})
    try:
        made = create_record(network, musician, track_record("Live one"))
        event = (await subscription.next())["trackEvents"]
        assert event == {"kind": "CREATED", "uri": made["uri"], "track": {"title": "Live one"}}
        indexed = (await client.gql(TRACK, {"u": made["uri"]})).data["track"]
        assert indexed == {"title": "Live one", "artistHandle": musician.handle, "cid": made["cid"]}

        put_record(network, musician, made["uri"], track_record("Live one (edit)"))
        event = (await subscription.next())["trackEvents"]
        assert (event["kind"], event["track"]["title"]) == ("UPDATED", "Live one (edit)")

        delete_record(network, musician, made["uri"])
        event = (await subscription.next())["trackEvents"]
        assert (event["kind"], event["uri"]) == ("DELETED", made["uri"])
        assert (await client.gql(TRACK, {"u": made["uri"]})).data["track"] is None
    finally:
        await subscription.close()


async def test_records_written_while_relay_is_down_arrive_exactly_once(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    settings = firehose_settings(relay_settings, network, accounts["alice"])
    async with run_relay(settings) as relay:
        client = RelayClient(relay.url)
        token = await client.login("alice.test", accounts["alice"].password)
        await warm_up(client, token, network)
        cursor_before = (await status(client, token))["cursors"]
        await client.aclose()
    assert cursor_before, "the cursor is stored with the rows"

    musician = network.create_account(f"d{secrets.token_hex(3)}.test")
    made = [create_record(network, musician, track_record(f"Offline {i}")) for i in range(3)]

    async with run_relay(settings) as relay:
        client = RelayClient(relay.url)
        try:
            token = await client.login("alice.test", accounts["alice"].password)

            async def all_there() -> bool:
                counted = await client.gql(COUNT, {"d": musician.did})
                return bool(counted.data["tracks"]["totalCount"] == 3)

            await eventually(all_there)
            await asyncio.sleep(1)  # anything replayed twice would have landed by now
            after = await status(client, token)
            # Resumed from the stored cursor: the three records, each applied once, no backfill.
            assert after["applied"] == 3
            for record in made:
                row = (await client.gql(TRACK, {"u": record["uri"]})).data["track"]
                assert row["cid"] == record["cid"]
        finally:
            await client.aclose()


async def test_a_forged_commit_is_dropped_and_ingest_goes_on(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    async with FakeForgingFirehose(f"ws://localhost:{network.pds_port}/xrpc") as proxy:
        settings = firehose_settings(relay_settings, network, accounts["alice"]).model_copy(
            update={"firehose_url": proxy.url}
        )
        async with run_relay(settings) as relay:
            client = RelayClient(relay.url)
            try:
                token = await client.login("alice.test", accounts["alice"].password)
                await warm_up(client, token, network)
                musician = network.create_account(f"g{secrets.token_hex(3)}.test")
                proxy.forge_for.add(musician.did)
                forged = create_record(network, musician, track_record("Forged"))

                async def dropped() -> bool:
                    counts = {
                        d["name"]: d["count"] for d in (await status(client, token))["dropped"]
                    }
                    return bool(counts.get("bad_signature", 0) >= 1)

                await eventually(dropped)
                assert proxy.forged == 1
                honest = create_record(network, musician, track_record("Honest"))

                async def honest_indexed() -> bool:
                    row = (await client.gql(TRACK, {"u": honest["uri"]})).data["track"]
                    return row is not None

                await eventually(honest_indexed)
                # What the forger wrote never reached the index (the record itself is genuine on
                # the PDS, so a backfill may index its real content).
                row = (await client.gql(TRACK, {"u": forged["uri"]})).data["track"]
                assert row is None or row["title"] == "Forged"
                listed = await client.gql(
                    "query($s: String!) { tracks(where: {search: $s}) { totalCount } }",
                    {"s": FORGED_TITLE},
                )
                assert listed.data["tracks"]["totalCount"] == 0
            finally:
                await client.aclose()


async def test_account_and_identity_events(
    live: tuple[RunningRelay, RelayClient, str], network: LocalNetwork
) -> None:
    _, client, _ = live
    musician = network.create_account(f"h{secrets.token_hex(3)}.test")
    made = create_record(network, musician, track_record("Visible"))

    async def count() -> int:
        return int((await client.gql(COUNT, {"d": musician.did})).data["tracks"]["totalCount"])

    await eventually(lambda: _equals(count, 1))
    account_call(network, musician, "com.atproto.server.deactivateAccount", {})
    await eventually(lambda: _equals(count, 0))
    assert (await client.gql(TRACK, {"u": made["uri"]})).data["track"] is None
    account_call(network, musician, "com.atproto.server.activateAccount")
    await eventually(lambda: _equals(count, 1))

    new_handle = f"n{secrets.token_hex(3)}.test"
    account_call(network, musician, "com.atproto.identity.updateHandle", {"handle": new_handle})

    async def renamed() -> bool:
        row = (await client.gql(TRACK, {"u": made["uri"]})).data["track"]
        return bool(row and row["artistHandle"] == new_handle)

    await eventually(renamed)


async def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected
