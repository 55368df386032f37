"""A failure after the object is stored and before the row commits removes the object."""

from __future__ import annotations

from pathlib import Path

from relay.app import Collaborators
from relay.db.models import TrackRow
from relay.db.tracks import TrackIndex
from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.server import run_relay


class FakeTrackIndexFailingInsert(TrackIndex):
    """Fake: the index dies on insert. A real database won't fail on demand between two
    statements, so this is the one place a fault is injected."""

    async def insert(self, row: TrackRow) -> TrackRow:
        raise RuntimeError("simulated database failure during insert")


async def test_object_is_removed_when_the_row_cannot_be_written(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    injected = Collaborators(track_index_wrapper=FakeTrackIndexFailingInsert)
    async with run_relay(relay_settings, injected) as relay, relay.client(accounts["alice"]) as c:
        result = await c.upload(audio_files["mp3"])
    assert result.codes == ["INTERNAL"]
    assert result.messages == ["Internal server error"]  # details stay in the server log
    audio_dir = relay_settings.data_dir / "audio"
    assert not audio_dir.exists() or not list(audio_dir.iterdir())
    assert not [p for p in (relay_settings.data_dir / "tmp").rglob("*") if p.is_file()]
