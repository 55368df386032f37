"""Bad uploads get a clear error and leave nothing behind: no staged file, object or row."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from relay.sandbox import LocalNetwork
from tests.harness.client import UPLOAD, RelayClient
from tests.harness.server import RunningRelay


async def assert_nothing_left(client: RelayClient, relay: RunningRelay) -> None:
    data_dir = relay.settings.data_dir
    staged = [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]
    assert not staged, "staged upload files remain"
    audio_dir = data_dir / "audio"
    assert not audio_dir.exists() or not list(audio_dir.iterdir()), "audio objects remain"
    count = await client.gql("{ tracks { totalCount } }")
    assert count.data["tracks"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.mp3", b"", "empty"),
        (
            "notes.txt",
            b"just some text, not audio\n" * 50,
            "supported formats: mp3, wav, ogg, flac",
        ),
        ("noise.mp3", os.urandom(20_000), "corrupt"),
        ("broken.wav", b"RIFF\x10\x00\x00\x00WAVEfmt " + os.urandom(64), "corrupt"),
    ],
)
async def test_not_audio_is_rejected(
    name: str,
    content: bytes,
    fragment: str,
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    tmp_path: Path,
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = await client.upload(path, token=alice)
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert fragment in result.messages[0]
    await assert_nothing_left(client, relay)


async def test_unsupported_format_lists_supported_ones(
    client: RelayClient, alice: str, relay: RunningRelay, audio_files: dict[str, Path]
) -> None:
    result = await client.upload(audio_files["aiff"], token=alice)
    assert result.codes == ["BAD_USER_INPUT"]
    assert "unsupported audio format" in result.messages[0]
    assert "mp3, wav, ogg, flac" in result.messages[0]
    await assert_nothing_left(client, relay)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"title": "   "}, "title is required"),
        ({"artist": ""}, "artist is required"),
        ({"title": "x" * 281}, "title: must be at most 280 characters"),
        ({"artist": "y" * 300}, "artist: must be at most 280 characters"),
        ({"album": "z" * 281}, "album: must be at most 280 characters"),
        # 280 graphemes but far more than 2800 bytes: the lexicon's byte bound holds too.
        (
            {"title": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" * 150},
            "title: must be at most 2800 bytes",
        ),
    ],
)
async def test_invalid_metadata_is_rejected(
    fields: dict[str, str],
    fragment: str,
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    audio_files: dict[str, Path],
) -> None:
    values = {"title": "ok", "artist": "ok", **fields}
    result = await client.upload(
        audio_files["mp3"],
        token=alice,
        title=values["title"],
        artist=values["artist"],
        album=values.get("album"),
    )
    assert result.codes == ["BAD_USER_INPUT"], result.body
    assert fragment in result.messages[0]
    await assert_nothing_left(client, relay)


async def test_over_the_limit_is_payload_too_large(
    client: RelayClient, alice: str, relay: RunningRelay, tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (relay.settings.max_upload_bytes + 1))
    result = await client.upload(big, token=alice)
    assert result.status == 413
    assert result.codes == ["PAYLOAD_TOO_LARGE"]
    assert str(relay.settings.max_upload_bytes) in result.messages[0]
    await assert_nothing_left(client, relay)


async def _raw_upload(
    relay: RunningRelay, token: str, *, declared: int | None, file_bytes: int
) -> bytes:
    """Send a multipart upload head and ``file_bytes`` of the file, never the end of the body,
    then read the answer. A server that reads bodies to the end would never answer."""
    boundary = "relayboundary"
    operations = json.dumps(
        {"query": UPLOAD, "variables": {"input": {"file": None, "title": "t", "artist": "a"}}}
    )
    preamble = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{operations}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.input.file"]}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="huge.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    host, port = relay.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    framing = (
        f"Content-Length: {declared}" if declared is not None else "Transfer-Encoding: chunked"
    )
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Apollo-Require-Preflight: true\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n{framing}\r\n\r\n"
    ).encode()

    def frame(data: bytes) -> bytes:
        return data if declared is not None else b"%x\r\n%s\r\n" % (len(data), data)

    try:
        writer.write(head + frame(preamble))
        block = b"\0" * 65536
        sent = 0
        while sent < file_bytes:
            writer.write(frame(block))
            await writer.drain()
            sent += len(block)
        return await asyncio.wait_for(reader.read(65536), timeout=15)
    except ConnectionError:
        return await asyncio.wait_for(reader.read(65536), timeout=15)
    finally:
        writer.close()


async def test_declared_oversized_body_is_refused_before_it_is_read(
    client: RelayClient, alice: str, relay: RunningRelay
) -> None:
    # The body announces 10 GiB; relay answers 413 at once and closes the connection.
    response = await _raw_upload(relay, alice, declared=10 * 1024**3, file_bytes=256 * 1024)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"PAYLOAD_TOO_LARGE" in response
    assert b"connection: close" in response.lower()
    await assert_nothing_left(client, relay)


async def test_streamed_oversized_body_is_cut_off_at_the_limit(
    client: RelayClient, alice: str, relay: RunningRelay
) -> None:
    # Chunked, so no length up front: relay counts while streaming and stops at the limit.
    limit = relay.settings.max_upload_bytes
    response = await _raw_upload(relay, alice, declared=None, file_bytes=limit + 1024 * 1024)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"PAYLOAD_TOO_LARGE" in response
    await assert_nothing_left(client, relay)


async def test_multipart_without_preflight_header_is_rejected(
    client: RelayClient, alice: str, relay: RunningRelay, audio_files: dict[str, Path]
) -> None:
    result = await client.upload(audio_files["mp3"], token=alice, preflight=False)
    assert result.status == 400
    assert "Apollo-Require-Preflight: true" in result.body["text"]
    await assert_nothing_left(client, relay)


async def test_anonymous_upload_is_unauthenticated(
    client: RelayClient, relay: RunningRelay, audio_files: dict[str, Path]
) -> None:
    result = await client.upload(audio_files["mp3"])
    assert result.codes == ["UNAUTHENTICATED"]
    await assert_nothing_left(client, relay)


async def test_garbage_token_is_unauthenticated(
    client: RelayClient, relay: RunningRelay, audio_files: dict[str, Path], network: LocalNetwork
) -> None:
    result = await client.upload(audio_files["mp3"], token="not-a-session")
    assert result.codes == ["UNAUTHENTICATED"]
    assert "invalid or has expired" in result.messages[0]
    await assert_nothing_left(client, relay)
