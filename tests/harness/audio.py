"""Real audio files for tests, encoded by libsndfile (through soundfile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

_FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "aiff": ("AIFF", "PCM_16"),
}


def make_audio(
    path: Path, fmt: str, *, seconds: float = 2.0, freq: float = 440.0, rate: int = 22050
) -> Path:
    """Write a sine tone of ``seconds`` in ``fmt`` (wav, flac, ogg, mp3, aiff) to ``path``."""
    major, subtype = _FORMATS[fmt]
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32")
    soundfile.write(str(path), tone, rate, format=major, subtype=subtype)
    return path


def make_large_wav(path: Path, size_bytes: int) -> Path:
    """A valid PCM WAV of about ``size_bytes`` (44.1 kHz stereo 16-bit), written in blocks."""
    rate, channels = 44100, 2
    frames_total = size_bytes // (2 * channels)
    with soundfile.SoundFile(
        str(path), "w", samplerate=rate, channels=channels, format="WAV", subtype="PCM_16"
    ) as out:
        block = rate * 10
        t = np.arange(block) / rate
        tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32")
        stereo = np.stack([tone, tone], axis=1)
        written = 0
        while written < frames_total:
            n = min(block, frames_total - written)
            out.write(stereo[:n])
            written += n
    return path
