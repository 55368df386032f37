"""Live ingest from the real PDS's firehose: writes made by other clients, straight on the PDS."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from relay.sandbox import Account, LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.forging_firehose import FORGED_TITLE, FakeForgingFirehose
from tests.harness.pds import account_call, create_record, delete_record, put_record, track_record
from tests.harness.server import RunningRelay, run_relay
from tests.harness.subscriptions import GraphQLSubscription
from tests.harness.waiting import eventually

STATUS = "{ syncStatus { events applied cursors { source cursor } dropped { name count } } }"
TRACK = "query($u: String!) { track(uri: $u) { title artistHandle cid } }"
COUNT = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"
EVENTS = """
subscription($did: String!) {
  trackEvents(where: {artistDid: $did}) { kind uri track { title } }
}
"""


def firehose_settings(
    base: Settings, network: LocalNetwork, admin: Account, **changes: object
) -> Settings:
    """``base`` following the sandbox PDS (validated again, as the environment would be)."""
    values = {
        **base.model_dump(),
        # The host form operators write; relay follows ws://localhost:PORT/xrpc.
        "firehose_url": f"ws://localhost:{network.pds_port}",
        "admin_dids": [admin.did],
        **changes,
    }
    return Settings.model_validate(values)


async def status(client: RelayClient) -> dict[str, Any]:
    """``syncStatus`` as the signed-in admin of ``client`` sees it."""
    result: dict[str, Any] = (await client.gql(STATUS)).data["syncStatus"]
    return result


async def warm_up(client: RelayClient, network: LocalNetwork) -> None:
    """Until relay has applied an event from the live stream (so it is connected)."""
    before = (await status(client))["events"]

    async def seen() -> bool:
        await create_record(
            network, network.create_account(f"w{secrets.token_hex(3)}.test"), track_record("warm")
        )
        await asyncio.sleep(0.3)
        return bool((await status(client))["events"] > before)

    await eventually(seen, what="an event from the live stream")


async def test_creates_updates_and_deletes_arrive_in_queries_and_subscriptions(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    relay, client = live
    musician = network.create_account(f"f{secrets.token_hex(3)}.test")
    subscription = await GraphQLSubscription.open(relay.url, EVENTS, {"did": musician.did})
    try:
        made = await create_record(network, musician, track_record("Live one"))
        event = (await subscription.next())["trackEvents"]
        assert event == {"kind": "CREATED", "uri": made["uri"], "track": {"title": "Live one"}}
        indexed = (await client.gql(TRACK, {"u": made["uri"]})).data["track"]
        assert indexed == {"title": "Live one", "artistHandle": musician.handle, "cid": made["cid"]}

        await put_record(network, musician, made["uri"], track_record("Live one (edit)"))
        event = (await subscription.next())["trackEvents"]
        assert (event["kind"], event["track"]["title"]) == ("UPDATED", "Live one (edit)")

        await delete_record(network, musician, made["uri"])
        event = (await subscription.next())["trackEvents"]
        assert (event["kind"], event["uri"]) == ("DELETED", made["uri"])
        assert (await client.gql(TRACK, {"u": made["uri"]})).data["track"] is None
        # Each genuine commit was proven — signature, MST paths, its ops inverted to the previous
        # tree (sync v1.1) and chained to the last one — none was dropped or read again. (Other
        # tests' deliberately bad records, met by the start-up backfill, are counted apart.)
        after = await client.gql("{ syncStatus { gaps dropped { name count } } }")
        drops = {d["name"] for d in after.data["syncStatus"]["dropped"]}
        assert not drops & {"unproven", "bad_signature", "bad_block", "malformed", "missing_block"}
        assert after.data["syncStatus"]["gaps"] == 0
    finally:
        await subscription.close()


async def test_records_written_while_relay_is_down_arrive_exactly_once(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    settings = firehose_settings(relay_settings, network, accounts["alice"])
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        await warm_up(client, network)
        cursor_before = (await status(client))["cursors"]
    assert cursor_before, "the cursor is stored with the rows"

    musician = network.create_account(f"d{secrets.token_hex(3)}.test")
    made = [await create_record(network, musician, track_record(f"Offline {i}")) for i in range(3)]

    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:

        async def all_there() -> bool:
            counted = await client.gql(COUNT, {"d": musician.did})
            return bool(counted.data["tracks"]["totalCount"] == 3)

        await eventually(all_there, what="the three offline records")
        await asyncio.sleep(1)  # anything replayed twice would have landed by now
        after = await status(client)
        # Resumed from the stored cursor: the three records, each applied once, no backfill.
        assert after["applied"] == 3
        for record in made:
            row = (await client.gql(TRACK, {"u": record["uri"]})).data["track"]
            assert row["cid"] == record["cid"]


async def test_a_forged_commit_is_dropped_and_ingest_goes_on(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    async with FakeForgingFirehose(f"ws://localhost:{network.pds_port}/xrpc") as proxy:
        settings = firehose_settings(
            relay_settings, network, accounts["alice"], firehose_url=proxy.url
        )
        async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
            await warm_up(client, network)
            musician = network.create_account(f"g{secrets.token_hex(3)}.test")
            proxy.forge_for.add(musician.did)
            forged = await create_record(network, musician, track_record("Forged"))

            async def dropped() -> bool:
                counts = {d["name"]: d["count"] for d in (await status(client))["dropped"]}
                return bool(counts.get("bad_signature", 0) >= 1)

            await eventually(dropped, what="a bad_signature drop")
            assert proxy.forged == 1
            honest = await create_record(network, musician, track_record("Honest"))

            async def honest_indexed() -> bool:
                row = (await client.gql(TRACK, {"u": honest["uri"]})).data["track"]
                return row is not None

            await eventually(honest_indexed, what="the honest record indexed")
            # What the forger wrote never reached the index (the record itself is genuine on
            # the PDS, so a backfill may index its real content).
            row = (await client.gql(TRACK, {"u": forged["uri"]})).data["track"]
            assert row is None or row["title"] == "Forged"
            listed = await client.gql(
                "query($s: String!) { tracks(where: {search: $s}) { totalCount } }",
                {"s": FORGED_TITLE},
            )
            assert listed.data["tracks"]["totalCount"] == 0


async def test_account_and_identity_events(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    _, client = live
    musician = network.create_account(f"h{secrets.token_hex(3)}.test")
    made = await create_record(network, musician, track_record("Visible"))

    async def count() -> int:
        return int((await client.gql(COUNT, {"d": musician.did})).data["tracks"]["totalCount"])

    await eventually(lambda: _equals(count, 1))
    await account_call(network, musician, "com.atproto.server.deactivateAccount", {})
    await eventually(lambda: _equals(count, 0))
    assert (await client.gql(TRACK, {"u": made["uri"]})).data["track"] is None
    await account_call(network, musician, "com.atproto.server.activateAccount")
    await eventually(lambda: _equals(count, 1))

    new_handle = f"n{secrets.token_hex(3)}.test"
    await account_call(
        network, musician, "com.atproto.identity.updateHandle", {"handle": new_handle}
    )

    async def renamed() -> bool:
        row = (await client.gql(TRACK, {"u": made["uri"]})).data["track"]
        return bool(row and row["artistHandle"] == new_handle)

    await eventually(renamed)


async def _equals(probe: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await probe() == expected


FIREHOSE = "{ syncStatus { firehose { source connected since lastError lastErrorAt } } }"


async def firehose_state(client: RelayClient) -> dict[str, Any]:
    sources = (await client.gql(FIREHOSE)).data["syncStatus"]["firehose"]
    assert len(sources) == 1
    state: dict[str, Any] = sources[0]
    return state


@pytest.mark.parametrize(
    ("where", "reason"),
    [("nothing-listens", "unreachable"), ("plc-directory", "refused: HTTP 404")],
)
async def test_a_stream_that_cannot_be_followed_is_logged_shown_and_retried(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    caplog: pytest.LogCaptureFixture,
    where: str,
    reason: str,
) -> None:
    port = free_port() if where == "nothing-listens" else network.plc_port
    settings = firehose_settings(
        relay_settings,
        network,
        accounts["alice"],
        firehose_url=f"http://127.0.0.1:{port}",
        firehose_reconnect_seconds=0.1,
    )
    async with run_relay(settings, in_process=True) as relay, relay.client(accounts["alice"]) as c:

        async def failed_twice() -> dict[str, Any] | None:
            state = await firehose_state(c)
            retries = [r for r in caplog.records if "retrying" in r.getMessage()]
            return state if len(retries) >= 2 else None

        state = await eventually(failed_twice, what="two failed attempts")
    source = f"ws://127.0.0.1:{port}/xrpc"
    assert state["source"] == source
    assert state["connected"] is False
    assert state["lastError"].startswith(reason)
    assert state["since"] is not None and state["lastErrorAt"] is not None
    logged = [r.getMessage() for r in caplog.records if r.name == "relay.services.firehose"]
    assert any(source in line and reason in line for line in logged), logged


async def test_a_stream_that_closes_is_followed_again_when_it_comes_back(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    settings = firehose_settings(
        relay_settings, network, accounts["alice"], firehose_reconnect_seconds=0.2
    )
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        await warm_up(client, network)
        assert (await firehose_state(client))["connected"] is True
        network.pds.stop()
        try:
            lost = await eventually(
                lambda: _state_if(client, connected=False), what="the lost stream shown"
            )
            assert lost["lastError"]
        finally:
            network.pds.start("/xrpc/_health")
        back = await eventually(
            lambda: _state_if(client, connected=True), timeout=30, what="the stream followed again"
        )
        assert back["lastError"] == lost["lastError"]  # kept for the operator to read
        musician = network.create_account(f"r{secrets.token_hex(3)}.test")
        made = await create_record(network, musician, track_record("After the outage"))

        async def indexed() -> bool:
            return (await client.gql(TRACK, {"u": made["uri"]})).data["track"] is not None

        await eventually(indexed, what="a record written after the outage")


async def _state_if(client: RelayClient, *, connected: bool) -> dict[str, Any] | None:
    state = await firehose_state(client)
    return state if state["connected"] is connected else None
