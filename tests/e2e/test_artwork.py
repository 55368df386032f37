"""Cover artwork uploaded with a track: made a 1000x1000 JPEG without metadata, stored beside the
audio and reference-counted with it, its URL in the record on the PDS and in the index; what is
not an image (or is a decompression bomb, or too large) is refused and leaves nothing behind."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from relay.db.models import TrackRow
from relay.db.tracks import Lease
from relay.domain import PublishState
from relay.errors import PdsUnavailableError
from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_audio_lifecycle import DELETE, refs, stored
from tests.harness.client import RelayClient
from tests.harness.pds import get_record, put_record
from tests.harness.server import RunningRelay, run_relay
from tests.harness.waiting import eventually

TRACKS = "query($d: String!) { tracks(where: {artistDid: $d}) { totalCount } }"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A 1600x1200 PNG with transparency and EXIF (camera, GPS) — what a phone might send."""
    image = Image.new("RGBA", (1600, 1200), (200, 40, 40, 255))
    for x in range(0, 1600, 4):
        image.putpixel((x, 600), (0, 0, 0, 0))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (52.0, 31.0, 0.0)}  # GPSInfo: a latitude
    path = tmp_path / "cover.png"
    image.save(path, "PNG", exif=exif.tobytes())
    return path


async def test_artwork_is_normalized_stored_and_written_into_the_record(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
    photo: Path,
) -> None:
    assert Image.open(photo).getexif()  # the upload does carry metadata
    result = await client.upload(audio_files["mp3"], title="Covered", image=photo, token=alice)
    track = result.data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", result.body
    image_url = track["imageUrl"]
    assert image_url and image_url.endswith(".jpg")
    async with httpx.AsyncClient() as http:
        served = await http.get(image_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    cover = Image.open(io.BytesIO(served.content))
    assert (cover.format, cover.size, cover.mode) == ("JPEG", (1000, 1000), "RGB")
    assert not cover.getexif() and "exif" not in cover.info and "icc_profile" not in cover.info
    # The record on the PDS names it; the index serves it.
    record = await get_record(network, track["uri"])
    assert record is not None and record["value"]["imageUrl"] == image_url
    key = image_url.rsplit("/", 1)[1]
    assert key in stored(relay)
    assert (await refs(relay))[key] == 1
    # Deleting the track drops the artwork with the audio (collected: no grace in tests).
    await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert key not in stored(relay)
    assert key not in await refs(relay)


async def test_two_tracks_share_one_stored_cover(
    client: RelayClient, alice: str, relay: RunningRelay, audio_files: dict[str, Path], photo: Path
) -> None:
    first = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    second = (await client.upload(audio_files["ogg"], image=photo, token=alice)).data["uploadTrack"]
    assert first["imageUrl"] == second["imageUrl"]
    key = first["imageUrl"].rsplit("/", 1)[1]
    assert (await refs(relay))[key] == 2
    await client.gql(DELETE, {"id": first["id"]}, token=alice)
    assert key in stored(relay)  # the other track still shows it
    await client.gql(DELETE, {"id": second["id"]}, token=alice)
    assert key not in stored(relay)


def _bomb(tmp_path: Path) -> Path:
    """A tiny PNG declaring 20000x20000 pixels."""
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path, "PNG")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: _write(d / "cover.png", b"not an image at all"), "must be a JPEG, PNG"),
        (lambda d: _write(d / "cover.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64), "artwork"),
        (lambda d: _write(d / "cover.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "JPEG"),
        (_bomb, "pixels"),
    ],
)
async def test_what_is_not_an_acceptable_image_is_refused_and_leaves_nothing(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
    tmp_path: Path,
    make: Callable[[Path], Path],
    message: str,
) -> None:
    before_objects, before_refs = stored(relay), await refs(relay)
    image = make(tmp_path)
    result = await client.upload(audio_files["mp3"], title="Refused", image=image, token=alice)
    assert result.body["data"] is None
    error = result.body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert message in error["message"]
    assert stored(relay) == before_objects and await refs(relay) == before_refs
    count = await client.gql(TRACKS, {"d": accounts["alice"].did}, token=alice)
    assert count.data["tracks"]["totalCount"] == 0


async def test_artwork_over_its_limit_is_refused(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path],
    photo: Path,
) -> None:  # fmt: skip
    settings = relay_settings.model_copy(update={"max_image_bytes": 1000})
    async with run_relay(settings) as small, small.client() as client:
        account = accounts["alice"]
        token = await client.login(account.handle, account.password)
        result = await client.upload(audio_files["mp3"], image=photo, token=token)
        assert result.codes == ["PAYLOAD_TOO_LARGE"]
        assert stored(small) == set()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


UPDATE = """
mutation($id: ID!, $input: UpdateTrackInput!) {
  updateTrack(id: $id, input: $input) { imageUrl publishState record }
}
"""


async def update_cover(
    client: RelayClient, token: str, track_id: str, image: Path | None, **extra: object
) -> dict[str, Any]:
    """updateTrack as a multipart request carrying ``image`` (or JSON with ``extra`` only)."""
    if image is None:
        return (await client.gql(UPDATE, {"id": track_id, "input": extra}, token=token)).body
    operations = {"query": UPDATE, "variables": {"id": track_id, "input": {"image": None, **extra}}}
    response = await client.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": '{"0": ["variables.input.image"]}'},
        files={"0": (image.name, await anyio.Path(image).read_bytes(), "image/png")},
        headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"},
    )
    body: dict[str, Any] = response.json()
    return body


async def test_a_published_tracks_cover_is_replaced_and_removed(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
    photo: Path,
    tmp_path: Path,
) -> None:
    track = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    first = track["imageUrl"].rsplit("/", 1)[1]
    other = tmp_path / "other.png"
    Image.new("RGB", (300, 300), (10, 200, 90)).save(other, "PNG")

    replaced = await update_cover(client, alice, track["id"], other)
    assert "errors" not in replaced, replaced
    updated = replaced["data"]["updateTrack"]
    assert updated["publishState"] == "PUBLISHED"
    second = updated["imageUrl"].rsplit("/", 1)[1]
    assert second != first and updated["record"]["imageUrl"] == updated["imageUrl"]
    on_pds = await get_record(network, track["uri"])
    assert on_pds is not None and on_pds["value"]["imageUrl"] == updated["imageUrl"]
    assert first not in stored(relay) and second in stored(relay)  # the old one collected
    assert (await refs(relay)).get(second) == 1 and first not in await refs(relay)

    removed = await update_cover(client, alice, track["id"], None, removeImage=True)
    assert removed["data"]["updateTrack"]["imageUrl"] is None
    on_pds = await get_record(network, track["uri"])
    assert on_pds is not None and "imageUrl" not in on_pds["value"]
    assert second not in stored(relay) and second not in await refs(relay)


async def test_a_cover_for_an_edit_the_pds_refuses_is_not_kept(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
    photo: Path,
    tmp_path: Path,
) -> None:
    track = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    first = track["imageUrl"].rsplit("/", 1)[1]
    # Another client edits the record behind relay's back: relay's swapRecord no longer matches.
    elsewhere = {**track["record"], "title": "Edited elsewhere"}
    await put_record(network, accounts["alice"], track["uri"], elsewhere)
    other = tmp_path / "other.png"
    Image.new("RGB", (300, 300), (200, 200, 20)).save(other, "PNG")
    before = stored(relay)
    refused = await update_cover(client, alice, track["id"], other)
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT", refused
    assert stored(relay) == before and (await refs(relay))[first] == 1
    shown = await client.gql(
        "query($u: String!) { track(uri: $u) { imageUrl publishState } }", {"u": track["uri"]},
        token=alice,
    )  # fmt: skip
    assert shown.data["track"] == {"imageUrl": track["imageUrl"], "publishState": "PUBLISHED"}


class CollectingWhilePdsDecides:
    """The real PDS client, except that a put runs the collector first: what a collector pass
    that falls inside the PDS's round trip does, every time rather than by chance."""

    def __init__(self, relay: RunningRelay) -> None:
        self._relay = relay
        self._real = relay.parts.services.edits._pds
        self.old_cover: str | None = None
        self.seen: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def put_record(self, *args: Any, **kwargs: Any) -> Any:
        await self._relay.parts.objects.collect_due()
        assert self.old_cover is not None
        self.seen = {
            "counted": (await refs(self._relay)).get(self.old_cover),
            "stored": self.old_cover in stored(self._relay),
        }
        return await self._real.put_record(*args, **kwargs)


@pytest.mark.parametrize("refused", [True, False])
async def test_the_old_cover_outlives_a_collector_pass_while_the_pds_decides_on_the_edit(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refused: bool,
) -> None:
    # The collector (no grace in tests) removed the old cover while the PDS was asked: a refused
    # edit then showed a cover that was gone (an occasional failure of the test above).
    track = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    first = track["imageUrl"].rsplit("/", 1)[1]
    if refused:  # another client's edit: relay's swapRecord no longer matches
        elsewhere = {**track["record"], "title": "Edited elsewhere"}
        await put_record(network, accounts["alice"], track["uri"], elsewhere)
    pds = CollectingWhilePdsDecides(relay)
    pds.old_cover = first
    monkeypatch.setattr(relay.parts.services.edits, "_pds", pds)
    other = tmp_path / "other.png"
    Image.new("RGB", (300, 300), (20, 90, 200)).save(other, "PNG")
    answer = await update_cover(client, alice, track["id"], other)
    assert pds.seen == {"counted": 1, "stored": True}, "the PDS's record still showed it"
    if refused:
        assert answer["errors"][0]["extensions"]["code"] == "CONFLICT", answer
        assert first in stored(relay) and (await refs(relay))[first] == 1
        on_pds = await get_record(network, track["uri"])
        assert on_pds is not None and on_pds["value"]["imageUrl"] == track["imageUrl"]
    else:
        assert "errors" not in answer, answer
        assert first not in stored(relay) and first not in await refs(relay)  # collected after
    async with relay.database() as db:
        pins = (await db.execute(select(TrackRow.replaced_image_file_id))).scalars().all()
    assert set(pins) == {None}


async def test_the_worker_finishing_an_edit_cut_short_uncounts_the_old_cover(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
    photo: Path,
) -> None:
    track = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    first = track["imageUrl"].rsplit("/", 1)[1]
    # What an edit removing the cover writes before it asks the PDS, by a process that then
    # died: PUBLISHING, its lease lapsing, the old cover still counted.
    index = relay.parts.services.edits._index
    row = await index.get_by_uri(track["uri"])
    assert row is not None
    now = relay.parts.services.edits._leases.new().now
    lease = Lease(token="died", now=now, until=now)
    assert await index.claim(row.id, lease)
    pending = await index.release(
        row.id, lease, keep=True, publish_state=PublishState.PUBLISHING,
        next_publish_at=now, image_url=None, image_file_id=None, replaced_image_file_id=first,
    )  # fmt: skip
    assert pending is not None and (await refs(relay))[first] == 1

    async def finished() -> bool:
        await relay.parts.publisher.run_once()
        on_pds = await get_record(network, track["uri"])
        current = await index.get(row.id)  # the worker's last step: after the PDS took it
        return (
            on_pds is not None
            and "imageUrl" not in on_pds["value"]
            and current is not None
            and current.publish_state == PublishState.PUBLISHED
            and current.replaced_image_file_id is None
        )

    await eventually(finished, what="the worker to publish the edit")
    await relay.parts.objects.collect_due()
    assert first not in stored(relay) and first not in await refs(relay)
    current = await index.get(row.id)
    assert current is not None and current.replaced_image_file_id is None


class FakeLostAnswerPds:
    """The real PDS client, except that the answer to a put is lost after the PDS took the
    record (a real PDS cannot be made to drop its answer on demand)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def put_record(self, *args: Any, **kwargs: Any) -> Any:
        await self._real.put_record(*args, **kwargs)
        raise PdsUnavailableError("PDS write failed: unreachable")


@pytest.mark.parametrize("fault", ["pds down", "answer lost"])
async def test_an_edit_the_pds_could_not_answer_is_kept_and_written_again(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
    photo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    # The index went back to the old record while the PDS (answer lost) held the new one, whose
    # cover relay then collected: the record pointed at artwork that was gone.
    track = (await client.upload(audio_files["mp3"], image=photo, token=alice)).data["uploadTrack"]
    first = track["imageUrl"].rsplit("/", 1)[1]
    other = tmp_path / "other.png"
    Image.new("RGB", (300, 300), (90, 20, 160)).save(other, "PNG")
    if fault == "pds down":
        network.pds.stop()
    else:
        edits = relay.parts.services.edits
        monkeypatch.setattr(edits, "_pds", FakeLostAnswerPds(edits._pds))
    try:
        answer = await update_cover(client, alice, track["id"], other, title="Edited unanswered")
    finally:
        if fault == "pds down":
            network.pds.start("/xrpc/_health")
    assert "errors" not in answer, answer
    kept = answer["data"]["updateTrack"]
    assert kept["publishState"] == "FAILED" and kept["record"]["title"] == "Edited unanswered"
    second = kept["imageUrl"].rsplit("/", 1)[1]
    assert second != first and {first, second} <= stored(relay)
    assert {k: (await refs(relay)).get(k) for k in (first, second)} == {first: 1, second: 1}

    async def written() -> bool:  # the worker writes the edit again (the same record)
        shown = await client.gql(
            "query($u: String!) { track(uri: $u) { publishState } }", {"u": track["uri"]},
            token=alice,
        )  # fmt: skip
        on_pds = await get_record(network, track["uri"])
        # The index's row last: the firehose may show the record PUBLISHED before the worker,
        # still holding the track's lease, uncounts the old cover.
        current = await relay.parts.services.edits._index.get_by_uri(track["uri"])
        return (
            shown.data["track"]["publishState"] == "PUBLISHED"
            and current is not None
            and current.replaced_image_file_id is None
            and on_pds is not None
            and on_pds["value"].get("imageUrl") == kept["imageUrl"]
            and on_pds["value"]["title"] == "Edited unanswered"
        )

    await eventually(written, what="the edit to be written again")
    await relay.parts.objects.collect_due()
    assert first not in stored(relay) and first not in await refs(relay)
    assert second in stored(relay) and (await refs(relay))[second] == 1


async def test_a_new_cover_and_its_removal_together_are_refused(
    client: RelayClient, alice: str, audio_files: dict[str, Path], photo: Path
) -> None:
    track = (await client.upload(audio_files["mp3"], token=alice)).data["uploadTrack"]
    both = await update_cover(client, alice, track["id"], photo, removeImage=True)
    assert both["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
