"""Stored audio is reference-counted with the rows that use it: nothing a row references is ever
removed, and what no row references (a deleted track's, a crashed upload's) is collected."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from relay.db.models import AudioObjectRow, TrackRow
from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay
from tests.harness.waiting import eventually

DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"
PUBLISH = "mutation($id: ID!) { publishTrack(id: $id) { publishState } }"


async def refs(relay: RunningRelay) -> dict[str, int]:
    async with relay.database() as db:
        rows = (await db.execute(select(AudioObjectRow.file_id, AudioObjectRow.refs))).all()
    return {str(file_id): int(count) for file_id, count in rows}


def stored(relay: RunningRelay) -> set[str]:
    audio = relay.settings.data_dir / "audio"
    return (
        {p.name for p in audio.iterdir() if not p.name.startswith(".")} if audio.exists() else set()
    )


async def test_uploads_racing_the_delete_of_the_last_other_user_keep_the_audio(
    client: RelayClient, alice: str, bob: str, relay: RunningRelay, audio_files: dict[str, Path]
) -> None:
    for _ in range(4):
        first = (await client.upload(audio_files["wav"], publish=False, token=alice)).data[
            "uploadTrack"
        ]
        results = await asyncio.gather(
            client.gql(DELETE, {"id": first["id"]}, token=alice),
            client.upload(audio_files["wav"], publish=False, token=bob),
            client.upload(audio_files["wav"], publish=False, token=bob),
        )
        assert results[0].data["deleteTrack"]["uri"] == first["uri"]
        again = [r.data["uploadTrack"] for r in results[1:]]
        file_id = first["audioUrl"].rsplit("/", 1)[1]
        assert stored(relay) == {file_id}  # still there for the two new tracks
        assert (await refs(relay))[file_id] == 2
        for track in again:
            await client.gql(DELETE, {"id": track["id"]}, token=bob)
        assert stored(relay) == set()  # the last reference went: collected (no grace in tests)
        assert await refs(relay) == {}


@pytest.fixture
def graceful(relay_settings: Settings) -> Settings:
    return relay_settings.model_copy(
        update={"audio_grace_seconds": 1.0, "collector_interval_seconds": 0.2}
    )


async def test_a_deleted_tracks_audio_outlives_the_grace_period_then_goes(
    graceful: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    async with run_relay(graceful) as relay, relay.client(accounts["alice"]) as client:
        track = (await client.upload(audio_files["ogg"], publish=False)).data["uploadTrack"]
        await client.gql(DELETE, {"id": track["id"]})
        file_id = track["audioUrl"].rsplit("/", 1)[1]
        assert stored(relay) == {file_id}  # within the grace period
        await eventually(lambda: _gone(relay), what="the collector removing the audio")
        assert await refs(relay) == {}


async def _gone(relay: RunningRelay) -> bool:
    return not stored(relay)


async def test_what_a_crashed_process_left_is_collected(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    """An object stored by an upload whose process died before its row existed, and staged files
    of dead processes, are removed; the staging area of a live process is kept."""
    tmp = relay_settings.data_dir / "tmp"
    (tmp / "p999999999").mkdir(parents=True)
    (tmp / "p999999999" / "upload-abc.mp3").write_bytes(b"half an upload")
    (tmp / "upload-old.wav").write_bytes(b"from an older relay")
    live = tmp / f"p{os.getppid()}"  # a process that is running (pytest's parent)
    live.mkdir()
    (live / "upload-live.mp3").write_bytes(b"in flight")
    async with run_relay(relay_settings) as relay:
        assert not (tmp / "p999999999").exists() and not (tmp / "upload-old.wav").exists()
        assert (live / "upload-live.mp3").exists()
        # What the dead upload did before its row: announced the object, stored the bytes.
        orphan = "0" * 64 + ".mp3"
        (relay.settings.data_dir / "audio").mkdir(exist_ok=True)
        (relay.settings.data_dir / "audio" / orphan).write_bytes(audio_files["mp3"].read_bytes())
        async with relay.database() as db:
            db.add(
                AudioObjectRow(
                    file_id=orphan,
                    refs=0,
                    unreferenced_since=datetime.now(UTC) - timedelta(hours=1),
                    created_at=datetime.now(UTC) - timedelta(hours=1),
                )
            )
        await eventually(lambda: _gone(relay), what="the collector removing the orphan")
        assert await refs(relay) == {}


@pytest.fixture
async def held(
    relay: RunningRelay, client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> tuple[dict[str, str], RunningRelay]:
    """A track whose lease another process holds (as it would mid-publish)."""
    track = (await client.upload(audio_files["flac"], publish=False, token=alice)).data[
        "uploadTrack"
    ]
    async with relay.database() as db:
        row = (await db.execute(select(TrackRow).where(TrackRow.uri == track["uri"]))).scalar_one()
        row.lease_token = "another-process"
        row.lease_until = datetime.now(UTC) + timedelta(minutes=5)
        row.publish_state = "PUBLISHING"
    return track, relay


async def test_a_held_lease_keeps_deletes_and_other_publishes_out(
    held: tuple[dict[str, str], RunningRelay], client: RelayClient, alice: str
) -> None:
    track, relay = held
    refused = await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert refused.codes == ["CONFLICT"]
    untouched = await client.gql(PUBLISH, {"id": track["id"]}, token=alice)
    assert untouched.data["publishTrack"]["publishState"] == "PUBLISHING"  # no second writer
    # The holder died: once its lease lapses, the track can be changed again.
    async with relay.database() as db:
        row = (await db.execute(select(TrackRow).where(TrackRow.uri == track["uri"]))).scalar_one()
        row.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    published = await client.gql(PUBLISH, {"id": track["id"]}, token=alice)
    assert published.data["publishTrack"]["publishState"] == "PUBLISHED"
    deleted = await client.gql(DELETE, {"id": track["id"]}, token=alice)
    assert deleted.data["deleteTrack"]["uri"] == track["uri"]
