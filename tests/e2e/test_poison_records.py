"""Records the lexicon lets through but the index cannot hold — a record key that is not a TID, a
duration beyond a GraphQL Int, an audio or artwork URL that is not http(s) — written on the real
PDS beside honest ones: each is dropped and counted by reason, and the honest records are
indexed, by the firehose and by a backfill alike."""

from __future__ import annotations

import secrets
from typing import Any

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_backfill import TRACKS, run_backfill
from tests.e2e.test_firehose import firehose_settings, status, warm_up
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, track_record
from tests.harness.server import run_relay
from tests.harness.waiting import eventually

POISON: list[tuple[str, dict[str, Any], str | None]] = [
    ("bad_rkey", track_record("Long key"), "k" * 100),
    ("bad_duration", track_record("Forever", duration=2**40), None),
    ("bad_audio_url", track_record("Script", audioUrl="javascript:alert(1)"), None),
    ("bad_image_url", track_record("Art script", imageUrl="javascript:alert(1)"), None),
]
COVER = "https://art.elsewhere.example/cover.jpg"
ARTWORK = (
    "query($did: String!) { tracks(where: {artistDid: $did}) { edges { node { imageUrl } } } }"
)


async def write_poison_then_honest(network: LocalNetwork, musician: Account) -> None:
    for _, record, rkey in POISON:
        await create_record(network, musician, record, rkey=rkey)
    await create_record(network, musician, track_record("Honest", imageUrl=COVER))


async def titles(client: RelayClient, did: str) -> list[str]:
    page = (await client.gql(TRACKS, {"did": did})).data["tracks"]
    return [edge["node"]["title"] for edge in page["edges"]]


async def drops(client: RelayClient) -> dict[str, int]:
    return {d["name"]: d["count"] for d in (await status(client))["dropped"]}


async def test_the_firehose_drops_poison_and_indexes_the_rest(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    settings = firehose_settings(relay_settings, network, accounts["alice"])
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        await warm_up(client, network)
        before = await drops(client)
        musician = network.create_account(f"x{secrets.token_hex(3)}.test")
        await write_poison_then_honest(network, musician)

        async def honest_only() -> bool:
            return await titles(client, musician.did) == ["Honest"]

        await eventually(honest_only, what="the honest record, alone")
        after = await drops(client)
        for reason, _, _ in POISON:
            # At least once: relay's start-up backfill of the host may read the repo too.
            assert after.get(reason, 0) - before.get(reason, 0) >= 1, (reason, after)
        # The stream goes on: a later record still arrives.
        later = await create_record(network, musician, track_record("Later"))

        async def later_there() -> bool:
            return "Later" in await titles(client, musician.did)

        await eventually(later_there, what="a record after the poison")
        assert later["uri"]


async def test_a_backfill_drops_poison_and_indexes_the_rest(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    musician = network.create_account(f"y{secrets.token_hex(3)}.test")
    await write_poison_then_honest(network, musician)
    settings = relay_settings.model_copy(update={"admin_dids": [accounts["alice"].did]})
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        report = await run_backfill(client, dids=[musician.did])
        assert (report["done"], report["failed"]) == (1, 0), report
        assert await titles(client, musician.did) == ["Honest"]
        # The honest record's artwork is indexed with it.
        art = (await client.gql(ARTWORK, {"did": musician.did})).data["tracks"]["edges"]
        assert [e["node"]["imageUrl"] for e in art] == [COVER]
        counted = await drops(client)
        assert all(counted.get(reason, 0) >= 1 for reason, _, _ in POISON), counted
