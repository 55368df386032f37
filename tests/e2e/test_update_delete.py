"""Updates rewrite the record in place (compare-and-swap); deletes remove record, audio, row."""

from __future__ import annotations

from pathlib import Path

import httpx

from relay.sandbox import Account, LocalNetwork
from tests.harness.client import RelayClient
from tests.harness.pds import delete_record, get_record, put_record
from tests.harness.server import RunningRelay

UPDATE = """
mutation($id: ID!, $input: UpdateTrackInput!) {
  updateTrack(id: $id, input: $input) { uri rkey cid title artist album publishState }
}
"""
DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { deletedId uri } }"


async def test_update_rewrites_the_record_with_the_same_rkey(
    client: RelayClient, alice: str, network: LocalNetwork, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["flac"], album="Old", token=alice)).data["uploadTrack"]
    original = await get_record(network, track["uri"])
    assert original is not None
    result = await client.gql(
        UPDATE, {"id": track["id"], "input": {"title": "New title", "album": ""}}, token=alice
    )
    updated = result.data["updateTrack"]
    assert updated["uri"] == track["uri"] and updated["rkey"] == track["rkey"]
    assert updated["cid"] != track["cid"]
    assert (updated["title"], updated["artist"], updated["album"]) == (
        "New title",
        track["artist"],
        None,
    )
    record = await get_record(network, track["uri"])
    assert record is not None and record["cid"] == updated["cid"]
    assert record["value"]["title"] == "New title"
    assert "album" not in record["value"]
    assert record["value"]["createdAt"] == original["value"]["createdAt"]


async def test_update_conflicts_when_the_record_changed_elsewhere(
    client: RelayClient,
    alice: str,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["mp3"], title="Relay's", token=alice)).data[
        "uploadTrack"
    ]
    record = await get_record(network, track["uri"])
    assert record is not None
    # Another client edits the same record directly on the PDS.
    await put_record(
        network, accounts["alice"], track["uri"], {**record["value"], "title": "Theirs"}
    )

    result = await client.gql(UPDATE, {"id": track["id"], "input": {"title": "Mine"}}, token=alice)
    assert result.codes == ["CONFLICT"]
    after = await get_record(network, track["uri"])
    assert after is not None and after["value"]["title"] == "Theirs"  # not silently overwritten
    row = await client.gql("query($u: String!) { track(uri: $u) { title } }", {"u": track["uri"]})
    assert row.data["track"]["title"] == "Relay's"


async def test_update_of_a_draft_changes_only_the_index(
    client: RelayClient, alice: str, network: LocalNetwork, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["mp3"], publish=False, token=alice)).data[
        "uploadTrack"
    ]
    result = await client.gql(UPDATE, {"id": track["id"], "input": {"artist": "B"}}, token=alice)
    assert result.data["updateTrack"]["artist"] == "B"
    assert result.data["updateTrack"]["publishState"] == "DRAFT"
    assert await get_record(network, track["uri"]) is None


async def test_update_validates_against_the_lexicon(
    client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["mp3"], token=alice)).data["uploadTrack"]
    result = await client.gql(
        UPDATE, {"id": track["id"], "input": {"artist": "a" * 281}}, token=alice
    )
    assert result.codes == ["BAD_USER_INPUT"]
    assert "artist: must be at most 280 characters" in result.messages[0]


async def test_delete_removes_record_audio_and_row(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["ogg"], token=alice)).data["uploadTrack"]
    result = await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert result.data["deleteTrack"] == {"deletedId": track["id"], "uri": track["uri"]}
    assert await get_record(network, track["uri"]) is None
    async with httpx.AsyncClient() as http:
        assert (await http.get(track["audioUrl"])).status_code == 404
    assert not list((relay.settings.data_dir / "audio").iterdir())
    gone = await client.gql("query($u: String!) { track(uri: $u) { uri } }", {"u": track["uri"]})
    assert gone.data["track"] is None
    again = await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert again.codes == ["NOT_FOUND"]


async def test_delete_when_the_record_is_already_gone_from_the_pds(
    client: RelayClient,
    alice: str,
    accounts: dict[str, Account],
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["ogg"], token=alice)).data["uploadTrack"]
    # Deleted elsewhere first (e.g. with the user's own PDS tools): relay's delete still works.
    await delete_record(network, accounts["alice"], track["uri"])
    assert await get_record(network, track["uri"]) is None
    result = await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert result.data["deleteTrack"] == {"deletedId": track["id"], "uri": track["uri"]}
    gone = await client.gql("query($u: String!) { track(uri: $u) { uri } }", {"u": track["uri"]})
    assert gone.data["track"] is None
    assert not list((relay.settings.data_dir / "audio").iterdir())


async def test_shared_audio_survives_the_other_owners_delete(
    client: RelayClient,
    alice: str,
    bob: str,
    relay: RunningRelay,
    audio_files: dict[str, Path],
) -> None:
    mine = (await client.upload(audio_files["wav"], token=alice)).data["uploadTrack"]
    theirs = (await client.upload(audio_files["wav"], token=bob)).data["uploadTrack"]
    assert mine["audioUrl"] == theirs["audioUrl"]
    assert mine["artistDid"] != theirs["artistDid"]

    await client.gql(DELETE, {"id": mine["id"]}, token=alice)
    async with httpx.AsyncClient() as http:
        assert (await http.get(theirs["audioUrl"])).status_code == 200
    await client.gql(DELETE, {"id": theirs["id"]}, token=bob)
    assert not list((relay.settings.data_dir / "audio").iterdir())
