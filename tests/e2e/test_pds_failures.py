"""The PDS down or failing: uploads survive as FAILED, retries publish them, deletes stop safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import get_record
from tests.harness.server import run_relay
from tests.harness.waiting import eventually

TRACK = "query($u: String!) { track(uri: $u) { publishState publishError cid } }"


async def _wait_for(client: RelayClient, uri: str, state: str) -> Any:
    async def reached() -> Any:
        track = (await client.gql(TRACK, {"u": uri})).data["track"]
        return track if track["publishState"] == state else None

    return await eventually(reached, what=f"{uri} reaching {state}")


async def test_publish_failure_keeps_the_track_and_retries_after_a_relay_restart(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    async with run_relay(relay_settings) as relay, relay.client(accounts["alice"]) as client:
        network.pds.stop()
        result = await client.upload(audio_files["mp3"], title="Offline")
        track = result.data["uploadTrack"]
        assert track["publishState"] == "FAILED"
        assert "PDS write failed: unreachable" in track["publishError"]
        # The audio is stored and served even though the record is not written yet.
        async with httpx.AsyncClient() as http:
            assert (await http.get(track["audioUrl"])).status_code == 200
    # relay is down; the PDS comes back; a new relay process picks the retry up from the DB.
    network.pds.start("/xrpc/_health")
    # The owner watches (a FAILED track is hers alone to see).
    async with run_relay(relay_settings) as relay, relay.client(accounts["alice"]) as client:
        published = await _wait_for(client, track["uri"], "PUBLISHED")
    assert published["publishError"] is None
    record = await get_record(network, track["uri"])
    assert record is not None and record["cid"] == published["cid"]
    assert record["value"]["title"] == "Offline"


async def test_publish_track_retries_at_once(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    # The worker must not retry on its own meanwhile (its retry would hold the track's lease).
    slow_retry = relay_settings.model_copy(
        update={"publish_retry_base_seconds": 3600, "publish_retry_max_seconds": 3600}
    )
    async with run_relay(slow_retry) as relay, relay.client(accounts["alice"]) as client:
        network.pds.stop()
        try:
            track = (await client.upload(audio_files["ogg"])).data["uploadTrack"]
            assert track["publishState"] == "FAILED"
            retry = await client.gql(
                "mutation($id: ID!) { publishTrack(id: $id) { publishState publishError } }",
                {"id": track["id"]},
            )
            assert retry.data["publishTrack"]["publishState"] == "FAILED"
        finally:
            network.pds.start("/xrpc/_health")
        retry = await client.gql(
            "mutation($id: ID!) { publishTrack(id: $id) { publishState cid } }",
            {"id": track["id"]},
        )
        assert retry.data["publishTrack"]["publishState"] == "PUBLISHED"
        assert await get_record(network, track["uri"]) is not None


async def test_delete_stops_when_the_pds_fails_and_leaves_everything(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    async with run_relay(relay_settings) as relay, relay.client(accounts["alice"]) as client:
        track = (await client.upload(audio_files["flac"])).data["uploadTrack"]
        network.pds.stop()
        try:
            result = await client.gql(
                "mutation($id: ID!) { deleteTrack(id: $id) { uri } }", {"id": track["id"]}
            )
            assert result.codes == ["UPSTREAM_UNAVAILABLE"]
            still = (await client.gql(TRACK, {"u": track["uri"]})).data["track"]
            assert still["publishState"] == "PUBLISHED"
            async with httpx.AsyncClient() as http:
                assert (await http.get(track["audioUrl"])).status_code == 200
        finally:
            network.pds.start("/xrpc/_health")
        assert await get_record(network, track["uri"]) is not None
