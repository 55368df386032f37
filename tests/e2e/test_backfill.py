"""Backfill from repos on the real PDS: records written by other clients, unseen by relay."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from relay.assembly import Collaborators
from relay.atproto.records import AtUri, TrackRecord
from relay.atproto.repos import RepoClient, RepoRecord
from relay.db.engine import create_engine, session_factory
from relay.db.sync import SyncStore, TrackUpsert
from relay.sandbox import Account, LocalNetwork
from relay.services.backfill import BackfillRequest
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, delete_record, track_record
from tests.harness.server import run_relay
from tests.harness.waiting import eventually

BACKFILL = """
mutation($input: BackfillInput!) { backfill(input: $input) { runId } }
"""
STATUS = """
{ syncStatus { backfill { runId } backfillQueued
  lastBackfill { runId startedAt repos done skipped failed records created updated removed
                 invalid finished errors { target message } }
  dropped { name count } } }
"""
TRACKS = """
query($did: String!) {
  tracks(first: 50, where: {artistDid: $did}, orderBy: {field: TITLE, direction: ASC}) {
    totalCount edges { node { title artistHandle publishState audioHost playable cid } }
  }
}
"""


def fresh_account(network: LocalNetwork) -> Account:
    return network.create_account(f"b{secrets.token_hex(4)}.test")


async def run_backfill(client: RelayClient, **input_: Any) -> dict[str, Any]:
    """Start a backfill as the admin signed in on ``client`` and wait for its report."""
    before = (await client.gql(STATUS)).data["syncStatus"]["lastBackfill"]
    started = await client.gql(BACKFILL, {"input": input_})
    run_id = started.data["backfill"]["runId"]

    async def finished() -> dict[str, Any] | None:
        status = (await client.gql(STATUS)).data["syncStatus"]
        last = status["lastBackfill"]
        idle = status["backfill"] is None and status["backfillQueued"] == 0
        new = last is not None and (before is None or last["startedAt"] != before["startedAt"])
        done = idle and new and last["runId"] == run_id and last["finished"]
        return last if done else None

    return await eventually(finished, timeout=30, what=f"backfill {run_id} finishing")


async def titles(client: RelayClient, did: str) -> list[str]:
    page = (await client.gql(TRACKS, {"did": did})).data["tracks"]
    return [edge["node"]["title"] for edge in page["edges"]]


@pytest.mark.parametrize("use_car", [False, True])
async def test_backfill_indexes_what_relay_never_saw(
    use_car: bool,
    admin_relay: RelayClient,
    network: LocalNetwork,
) -> None:
    client = admin_relay
    musician = fresh_account(network)
    made = [await create_record(network, musician, track_record(f"Song {i}")) for i in range(3)]
    await create_record(network, musician, track_record("x" * 400))  # fails the lexicon
    await create_record(
        network, musician, track_record("From the future", createdAt="2099-01-01T00:00:00Z")
    )

    first = await run_backfill(client, dids=[musician.did], useCar=use_car)
    assert (first["repos"], first["done"], first["failed"]) == (1, 1, 0)
    assert first["records"] == 5
    assert first["created"] == 3
    assert first["invalid"] == 2
    page = (await client.gql(TRACKS, {"did": musician.did})).data["tracks"]
    assert page["totalCount"] == 3
    node = page["edges"][0]["node"]
    assert node["artistHandle"] == musician.handle
    assert node["publishState"] == "PUBLISHED"
    assert node["audioHost"] == "cdn.elsewhere.example"
    assert node["playable"] is False  # not an allowed audio host: listed, not played
    assert {edge["node"]["cid"] for edge in page["edges"]} == {m["cid"] for m in made}

    second = await run_backfill(client, dids=[musician.did], useCar=use_car)
    assert (second["created"], second["updated"], second["removed"]) == (0, 0, 0)

    await delete_record(network, musician, made[1]["uri"])
    third = await run_backfill(client, handles=[musician.handle], useCar=use_car)
    assert third["removed"] == 1
    assert await titles(client, musician.did) == ["Song 0", "Song 2"]


async def test_a_record_a_backfill_found_gone_is_not_indexed_again_from_an_older_copy(
    relay_settings: Settings, network: LocalNetwork
) -> None:
    """The backfill that finds a record deleted leaves a tombstone at the revision it listed: a
    copy of the record from before (a firehose replayed from an old cursor) is not indexed."""
    musician = fresh_account(network)
    kept = await create_record(network, musician, track_record("Kept"))
    gone = await create_record(network, musician, track_record("Gone"))
    async with run_relay(relay_settings, in_process=True) as relay:
        backfill = relay.parts.sync.backfill
        await backfill.run(BackfillRequest(dids=(musician.did,)))
        await delete_record(network, musician, gone["uri"])
        report = await backfill.run(BackfillRequest(dids=(musician.did,)))
        assert report.removed == 1
        engine = create_engine(relay_settings.resolved_database_url)
        try:
            store = SyncStore(session_factory(engine))
            rkey = AtUri.parse(gone["uri"]).rkey
            record = TrackRecord.model_validate(track_record("Gone"))
            late = TrackUpsert(
                did=musician.did, rkey=rkey, cid=gone["cid"], rev=gone["commit"]["rev"],
                record=record, handle=musician.handle,
            )  # fmt: skip
            assert await store.apply([late], now=datetime.now(UTC)) == []
        finally:
            await engine.dispose()
        async with relay.client() as client:
            assert await titles(client, musician.did) == ["Kept"]
    assert kept["commit"]["rev"] < gone["commit"]["rev"]


async def test_a_bad_repo_is_recorded_and_skipped(
    admin_relay: RelayClient, network: LocalNetwork
) -> None:
    client = admin_relay
    musician = fresh_account(network)
    await create_record(network, musician, track_record("Survivor"))
    ghost = "did:plc:" + "z" * 24  # resolves nowhere
    report = await run_backfill(client, dids=[ghost, musician.did], handles=["nobody.test"])
    assert report["done"] == 1
    assert report["failed"] == 1
    targets = {error["target"] for error in report["errors"]}
    assert {ghost, "nobody.test"} <= targets
    assert await titles(client, musician.did) == ["Survivor"]


async def test_every_repo_on_a_host(admin_relay: RelayClient, network: LocalNetwork) -> None:
    client = admin_relay
    one, two = fresh_account(network), fresh_account(network)
    await create_record(network, one, track_record("Host A"))
    await create_record(network, two, track_record("Host B"))
    report = await run_backfill(client, pdsHosts=[network.pds_url])
    assert report["failed"] == 0
    assert report["repos"] >= 2
    assert await titles(client, one.did) == ["Host A"]
    assert await titles(client, two.did) == ["Host B"]


async def test_backfill_is_admin_only(client: RelayClient, alice: str) -> None:
    result = await client.gql(BACKFILL, {"input": {"dids": ["did:plc:x"]}}, token=alice)
    assert result.codes == ["FORBIDDEN"]
    status = await client.gql("{ syncStatus { events } }", token=alice)
    assert status.codes == ["FORBIDDEN"]


class SimulatedCrash(BaseException):
    """Stands for the process dying: a BaseException, as KeyboardInterrupt and SystemExit are,
    so nothing handles it (a repo's failure, however unexpected, is an Exception)."""


class FakeRepoClientThatDies(RepoClient):
    """Fake: the process dies after ``survive`` repos were read (each lists its tracks, then its
    likes) — a crash in the middle of a backfill, which the real parts won't do on demand."""

    def __init__(self, http: httpx.AsyncClient, survive: int) -> None:
        super().__init__(http)
        self.left = survive

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncGenerator[list[RepoRecord], None]:
        if collection == "app.relay.track":  # a repo's first listing
            if self.left <= 0:
                raise SimulatedCrash("the process died here")
            self.left -= 1
        async for page in super().list_records(pds_url, did, collection):
            yield page


async def test_a_crashed_backfill_resumes_without_duplicates(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    musicians = [fresh_account(network) for _ in range(4)]
    for musician in musicians:
        await create_record(network, musician, track_record(f"By {musician.handle}"))
    dids = [m.did for m in musicians]
    settings = relay_settings.model_copy(
        update={"admin_dids": [accounts["alice"].did], "backfill_concurrency": 1}
    )
    async with httpx.AsyncClient() as http:
        crashing = Collaborators(repos=FakeRepoClientThatDies(http, survive=2))
        async with run_relay(settings, crashing) as relay:
            from relay.services.backfill import BackfillRequest

            backfill = relay.parts.services.sync.backfill
            with pytest.raises(SimulatedCrash):
                await backfill.run(BackfillRequest(dids=tuple(dids)))
    async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
        report = await run_backfill(client, dids=dids)
        assert report["skipped"] == 2  # finished before the crash
        assert report["done"] == 2
        assert report["created"] == 2
        for musician in musicians:
            assert await titles(client, musician.did) == [f"By {musician.handle}"]
        again = await run_backfill(client, dids=dids)  # a completed run is forgotten
        assert again["skipped"] == 0 and again["done"] == 4 and again["created"] == 0
