"""mutagen reads format, duration and tags from the bytes; bad files are named as such."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen.id3 import ID3, TALB, TIT2, TPE1

from relay.errors import InvalidAudioError
from relay.media.probe import probe
from tests.harness.audio import make_audio


@pytest.mark.parametrize("fmt", ["mp3", "wav", "ogg", "flac"])
async def test_formats_and_durations(fmt: str, tmp_path: Path) -> None:
    path = make_audio(tmp_path / f"x.{fmt}", fmt, seconds=4.4)
    # Misnamed on purpose: the format comes from the bytes, not the name.
    renamed = path.rename(tmp_path / "upload.bin")
    info = await probe(renamed)
    assert info.file_type == fmt
    assert info.duration_seconds == 4


async def test_tags_are_read(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "t.mp3", "mp3")
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Tagged Title"))
    tags.add(TPE1(encoding=3, text="Tagged Artist"))
    tags.add(TALB(encoding=3, text="Tagged Album"))
    tags.save(path)
    info = await probe(path)
    assert info.tags == {
        "title": "Tagged Title",
        "artist": "Tagged Artist",
        "album": "Tagged Album",
    }


async def test_unsupported_and_broken(tmp_path: Path) -> None:
    aiff = make_audio(tmp_path / "a.aiff", "aiff")
    with pytest.raises(InvalidAudioError, match="supported formats: mp3, wav, ogg, flac"):
        await probe(aiff)
    empty = tmp_path / "e.mp3"
    empty.write_bytes(b"")
    with pytest.raises(InvalidAudioError, match="empty"):
        await probe(empty)
