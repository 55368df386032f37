"""The PDS down or failing: uploads survive as FAILED, retries publish them, deletes stop safely."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import get_record
from tests.harness.server import run_relay

TRACK = "query($u: String!) { track(uri: $u) { publishState publishError cid } }"


async def _wait_for(client: RelayClient, uri: str, state: str, timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        track = (await client.gql(TRACK, {"u": uri})).data["track"]
        if track["publishState"] == state:
            return track
        assert asyncio.get_running_loop().time() < deadline, track
        await asyncio.sleep(0.2)


async def test_publish_failure_keeps_the_track_and_retries_after_a_relay_restart(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    async with run_relay(relay_settings) as relay:
        client = RelayClient(relay.url)
        alice = await client.login("alice.test", accounts["alice"].password)
        network.pds.stop()
        try:
            result = await client.upload(audio_files["mp3"], title="Offline", token=alice)
            track = result.data["uploadTrack"]
            assert track["publishState"] == "FAILED"
            assert "PDS write failed: unreachable" in track["publishError"]
            # The audio is stored and served even though the record is not written yet.
            async with httpx.AsyncClient() as http:
                assert (await http.get(track["audioUrl"])).status_code == 200
        finally:
            await client.aclose()
    # relay is down; the PDS comes back; a new relay process picks the retry up from the DB.
    network.pds.start("/xrpc/_health")
    async with run_relay(relay_settings) as relay:
        client = RelayClient(relay.url)
        try:
            published = await _wait_for(client, track["uri"], "PUBLISHED")
        finally:
            await client.aclose()
    assert published["publishError"] is None
    record = get_record(network, track["uri"])
    assert record is not None and record["cid"] == published["cid"]
    assert record["value"]["title"] == "Offline"


async def test_publish_track_retries_at_once(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    slow_retry = relay_settings.model_copy(update={"publish_retry_base_seconds": 3600})
    async with run_relay(slow_retry) as relay:
        client = RelayClient(relay.url)
        try:
            alice = await client.login("alice.test", accounts["alice"].password)
            network.pds.stop()
            try:
                track = (await client.upload(audio_files["ogg"], token=alice)).data["uploadTrack"]
                assert track["publishState"] == "FAILED"
                retry = await client.gql(
                    "mutation($id: ID!) { publishTrack(id: $id) { publishState publishError } }",
                    {"id": track["id"]},
                    token=alice,
                )
                assert retry.data["publishTrack"]["publishState"] == "FAILED"
            finally:
                network.pds.start("/xrpc/_health")
            retry = await client.gql(
                "mutation($id: ID!) { publishTrack(id: $id) { publishState cid } }",
                {"id": track["id"]},
                token=alice,
            )
            assert retry.data["publishTrack"]["publishState"] == "PUBLISHED"
            assert get_record(network, track["uri"]) is not None
        finally:
            await client.aclose()


async def test_delete_stops_when_the_pds_fails_and_leaves_everything(
    relay_settings: Settings,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    async with run_relay(relay_settings) as relay:
        client = RelayClient(relay.url)
        try:
            alice = await client.login("alice.test", accounts["alice"].password)
            track = (await client.upload(audio_files["flac"], token=alice)).data["uploadTrack"]
            network.pds.stop()
            try:
                result = await client.gql(
                    "mutation($id: ID!) { deleteTrack(id: $id) { uri } }",
                    {"id": track["id"]},
                    token=alice,
                )
                assert result.codes == ["UPSTREAM_UNAVAILABLE"]
                still = (await client.gql(TRACK, {"u": track["uri"]})).data["track"]
                assert still["publishState"] == "PUBLISHED"
                async with httpx.AsyncClient() as http:
                    assert (await http.get(track["audioUrl"])).status_code == 200
            finally:
                network.pds.start("/xrpc/_health")
            assert get_record(network, track["uri"]) is not None
        finally:
            await client.aclose()
