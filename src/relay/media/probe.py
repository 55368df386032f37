"""What an uploaded file really is: format, duration and tags, read from the bytes by mutagen.

mutagen does blocking file I/O, so probing runs in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import mutagen
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from relay.domain import FileType
from relay.errors import InvalidAudioError

SUPPORTED_FORMATS: tuple[FileType, ...] = tuple(FileType)
CONTENT_TYPES: dict[str, str] = {
    FileType.MP3: "audio/mpeg",
    FileType.WAV: "audio/wav",
    FileType.OGG: "audio/ogg",
    FileType.FLAC: "audio/flac",
}
_KINDS: tuple[tuple[type[mutagen.FileType], FileType], ...] = (
    (MP3, FileType.MP3),
    (WAVE, FileType.WAV),
    (FLAC, FileType.FLAC),
    (OggVorbis, FileType.OGG),
    (OggOpus, FileType.OGG),
    (OggFLAC, FileType.OGG),
)
_TAG_KEYS = {
    "title": ("title", "TIT2", "INAM"),
    "artist": ("artist", "TPE1", "IART"),
    "album": ("album", "TALB", "IPRD"),
}


@dataclass(frozen=True)
class AudioInfo:
    file_type: FileType
    content_type: str
    duration_seconds: int
    tags: dict[str, str]


def _supported() -> str:
    return ", ".join(SUPPORTED_FORMATS)


def _tag(audio: mutagen.FileType, names: tuple[str, ...]) -> str | None:
    tags = audio.tags
    if tags is None:
        return None
    for name in names:
        try:
            value = tags[name]
        except (KeyError, ValueError, TypeError):
            continue
        text = value[0] if isinstance(value, list) and value else getattr(value, "text", value)
        if isinstance(text, list):
            text = text[0] if text else None
        if text is not None and str(text).strip():
            return str(text).strip()
    return None


def probe_sync(path: Path) -> AudioInfo:
    """Identify ``path``; raise ``InvalidAudioError`` for empty, non-audio, corrupt or unsupported
    files (the message lists the supported formats)."""
    if path.stat().st_size == 0:
        raise InvalidAudioError("the file is empty")
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise InvalidAudioError(
            "the file looks like audio but cannot be read; it may be corrupt or truncated"
        ) from exc
    if audio is None:
        raise InvalidAudioError(f"not a recognised audio file; supported formats: {_supported()}")
    file_type = next((name for kind, name in _KINDS if isinstance(audio, kind)), None)
    if file_type is None:
        raise InvalidAudioError(
            f"unsupported audio format {type(audio).__name__}; supported formats: {_supported()}"
        )
    length = getattr(audio.info, "length", 0) or 0
    if length <= 0:
        raise InvalidAudioError("the audio stream is empty or corrupt (no playable length)")
    tags = {key: value for key, names in _TAG_KEYS.items() if (value := _tag(audio, names))}
    return AudioInfo(
        file_type=file_type,
        content_type=CONTENT_TYPES[file_type],
        duration_seconds=round(length),
        tags=tags,
    )


async def probe(path: Path) -> AudioInfo:
    return await anyio.to_thread.run_sync(probe_sync, path)
