"""Upload → storage → PDS record → index → GraphQL, through relay's HTTP API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mutagen.id3 import ID3, TALB, TIT2, TPE1

from relay.sandbox import Account, LocalNetwork
from tests.harness.client import RelayClient
from tests.harness.pds import get_record
from tests.harness.server import RunningRelay

FORMATS = ["mp3", "wav", "ogg", "flac"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_upload_publishes_record_and_indexes(
    fmt: str,
    client: RelayClient,
    alice: str,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    result = await client.upload(
        audio_files[fmt], title="Tone", artist="Alice", album="Tests", token=alice
    )
    track = result.data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", track
    assert track["fileType"] == fmt.upper()
    assert track["duration"] == 3
    assert track["artistDid"] == accounts["alice"].did
    assert track["artistHandle"] == "alice.test"
    assert track["uri"] == f"at://{accounts['alice'].did}/app.relay.track/{track['rkey']}"

    record = await get_record(network, track["uri"])
    assert record is not None
    assert record["cid"] == track["cid"]
    value = record["value"]
    assert value["$type"] == "app.relay.track"
    assert (value["title"], value["artist"], value["album"]) == ("Tone", "Alice", "Tests")
    assert value["fileType"] == fmt
    assert value["duration"] == 3
    assert value["audioUrl"] == track["audioUrl"]

    # The audioUrl serves exactly the uploaded bytes.
    async with httpx.AsyncClient() as http:
        audio = await http.get(track["audioUrl"])
    assert audio.status_code == 200
    assert audio.content == audio_files[fmt].read_bytes()

    # And the index answers by AT-URI and by global ID.
    by_uri = await client.gql(
        "query($u: String!) { track(uri: $u) { id title publishState } }", {"u": track["uri"]}
    )
    assert by_uri.data["track"] == {"id": track["id"], "title": "Tone", "publishState": "PUBLISHED"}
    by_id = await client.gql(
        "query($id: ID!) { node(id: $id) { id ... on Track { uri album } } }", {"id": track["id"]}
    )
    assert by_id.data["node"] == {"id": track["id"], "uri": track["uri"], "album": "Tests"}


async def test_draft_is_not_written_until_published(
    client: RelayClient, alice: str, network: LocalNetwork, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["ogg"], publish=False, token=alice)).data[
        "uploadTrack"
    ]
    assert track["publishState"] == "DRAFT"
    assert track["cid"] is None
    assert await get_record(network, track["uri"]) is None

    published = await client.gql(
        "mutation($id: ID!) { publishTrack(id: $id) { publishState cid uri } }",
        {"id": track["id"]},
        token=alice,
    )
    out = published.data["publishTrack"]
    assert out["publishState"] == "PUBLISHED"
    assert out["uri"] == track["uri"]
    record = await get_record(network, track["uri"])
    assert record is not None and record["cid"] == out["cid"]


async def test_same_bytes_twice_by_same_user_is_one_object(
    client: RelayClient, alice: str, relay: RunningRelay, audio_files: dict[str, Path]
) -> None:
    first = (await client.upload(audio_files["wav"], title="One", token=alice)).data["uploadTrack"]
    second = (await client.upload(audio_files["wav"], title="Two", token=alice)).data["uploadTrack"]
    assert first["uri"] != second["uri"]
    assert first["audioUrl"] == second["audioUrl"]
    stored = list((relay.settings.data_dir / "audio").iterdir())
    assert len(stored) == 1


async def test_omitted_metadata_comes_from_the_tags_then_the_file_name(
    client: RelayClient, alice: str, audio_files: dict[str, Path], tmp_path: Path
) -> None:
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(audio_files["mp3"].read_bytes())
    tags = ID3()
    tags.add(TIT2(encoding=3, text="From The Tags"))
    tags.add(TPE1(encoding=3, text="Tag Artist"))
    tags.add(TALB(encoding=3, text="Tag Album"))
    tags.save(tagged)
    result = await client.upload(tagged, title=None, artist=None, publish=False, token=alice)
    track = result.data["uploadTrack"]
    assert (track["title"], track["artist"], track["album"]) == (
        "From The Tags",
        "Tag Artist",
        "Tag Album",
    )
    # Given values win over tags; an empty album means none.
    result = await client.upload(tagged, title="Mine", album="", publish=False, token=alice)
    track = result.data["uploadTrack"]
    assert (track["title"], track["artist"], track["album"]) == ("Mine", "An Artist", None)
    # No tags at all: the file name and the uploader's handle.
    untagged = tmp_path / "late_night_take.wav"
    untagged.write_bytes(audio_files["wav"].read_bytes())
    result = await client.upload(untagged, title=None, artist=None, publish=False, token=alice)
    track = result.data["uploadTrack"]
    assert (track["title"], track["artist"]) == ("late night take", "alice.test")


async def test_blank_title_is_rejected_not_replaced(
    client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    result = await client.upload(audio_files["mp3"], title="  ", token=alice)
    assert result.codes == ["BAD_USER_INPUT"]
    assert "title is required" in result.messages[0]


async def test_track_record_is_exactly_what_reaches_the_pds(
    client: RelayClient, alice: str, audio_files: dict[str, Path], network: LocalNetwork
) -> None:
    draft = (await client.upload(audio_files["ogg"], publish=False, token=alice)).data[
        "uploadTrack"
    ]
    assert draft["record"]["$type"] == "app.relay.track"
    assert await get_record(network, draft["uri"]) is None
    published = await client.gql(
        "mutation($id: ID!) { publishTrack(id: $id) { publishState record } }",
        {"id": draft["id"]},
        token=alice,
    )
    assert published.data["publishTrack"]["publishState"] == "PUBLISHED"
    stored = await get_record(network, draft["uri"])
    assert stored is not None
    assert stored["value"] == draft["record"] == published.data["publishTrack"]["record"]
