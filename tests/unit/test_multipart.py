"""The streaming multipart parser (graphql-multipart-request spec), fed byte streams directly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.errors import BadUserInputError, PayloadTooLargeError
from relay.http.uploads import MultipartBounds, UploadStaging

BOUNDARY = "relay-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
OPERATIONS = {"query": "mutation($f: Upload!) { x(f: $f) }", "variables": {"f": None}}


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    headers = f"Content-Disposition: {disposition}"
    if filename is not None:
        headers += f'; filename="{filename}"\r\nContent-Type: audio/mpeg'
    return f"--{BOUNDARY}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def request(files: dict[str, bytes], *, operations: object = OPERATIONS) -> bytes:
    mapping = {name: [f"variables.f{i}"] for i, name in enumerate(files)}
    return body(
        part("operations", json.dumps(operations).encode()),
        part("map", json.dumps(mapping).encode()),
        *(part(name, data, filename=f"{name}.mp3") for name, data in files.items()),
    )


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def staging(tmp_path: Path, **bounds: int) -> UploadStaging:
    return UploadStaging(tmp_path / "tmp", MultipartBounds(**{"max_file_bytes": 4096, **bounds}))


@pytest.mark.parametrize("chunk", [1, 7, 64, 100_000])
async def test_files_are_staged_and_hashed_whatever_the_chunking(
    tmp_path: Path, chunk: int
) -> None:
    audio = bytes(range(256)) * 10
    stage = staging(tmp_path)
    parsed = await stage.parse(CONTENT_TYPE, chunks(request({"0": audio}), chunk))
    assert parsed.operations == OPERATIONS
    assert parsed.files_map == {"0": ["variables.f0"]}
    staged = parsed.files["0"]
    assert staged.path.read_bytes() == audio
    assert (staged.size, staged.sha256) == (len(audio), hashlib.sha256(audio).hexdigest())
    assert staged.filename == "0.mp3" and staged.content_type == "audio/mpeg"
    assert staged.path.suffix == ".mp3"
    await stage.cleanup()
    assert not staged.path.exists()


async def test_a_file_over_the_limit_stops_the_read(tmp_path: Path) -> None:
    stage = staging(tmp_path, max_file_bytes=1000)
    read = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal read
        async for data in chunks(request({"0": b"x" * 100_000}), 512):
            read += len(data)
            yield data

    with pytest.raises(PayloadTooLargeError):
        await stage.parse(CONTENT_TYPE, counted())
    assert read < 4000  # refused at the limit, not after reading everything
    await stage.cleanup()
    assert not list((tmp_path / "tmp").iterdir())


async def test_too_many_files_are_refused(tmp_path: Path) -> None:
    files = {str(i): b"a" for i in range(3)}
    with pytest.raises(BadUserInputError, match="at most 2 files"):
        await staging(tmp_path, max_files=2).parse(CONTENT_TYPE, chunks(request(files), 64))


async def test_an_oversized_text_field_is_refused(tmp_path: Path) -> None:
    huge = {"query": "x" * 5000}
    with pytest.raises(BadUserInputError, match="'operations' is too large"):
        await staging(tmp_path, max_field_bytes=1000).parse(
            CONTENT_TYPE, chunks(request({}, operations=huge), 256)
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (body(part("map", b"{}")), "no 'operations' field"),
        (body(part("operations", b"{not json")), "must be JSON"),
        (body(part("operations", b"{}"), part("map", b"[1]")), "'map' must map"),
        (body(part("operations", b"{}"), part("map", b'{"0": ["v"]}')), "missing: 0"),
        (
            f"--{BOUNDARY}\r\nContent-Disposition: attachment\r\n\r\nx\r\n".encode()
            + f"--{BOUNDARY}--\r\n".encode(),
            "form-data content-disposition",
        ),
    ],
)
async def test_malformed_requests_get_a_clear_error(
    tmp_path: Path, data: bytes, message: str
) -> None:
    with pytest.raises(BadUserInputError, match=message):
        await staging(tmp_path).parse(CONTENT_TYPE, chunks(data, 32))


async def test_only_multipart_with_a_boundary_is_parsed(tmp_path: Path) -> None:
    with pytest.raises(BadUserInputError, match="boundary"):
        await staging(tmp_path).parse("multipart/form-data", chunks(b"", 1))
    with pytest.raises(BadUserInputError, match="multipart/form-data"):
        await staging(tmp_path).parse("application/json", chunks(b"{}", 1))


async def test_a_file_name_never_chooses_the_staged_path(tmp_path: Path) -> None:
    data = body(
        part("operations", json.dumps(OPERATIONS).encode()),
        part("map", b'{"0": ["variables.f"]}'),
        part("0", b"abc", filename="../../etc/passwd.$(rm -rf)"),
    )
    stage = staging(tmp_path)
    parsed = await stage.parse(CONTENT_TYPE, chunks(data, 16))
    staged = parsed.files["0"].path
    assert staged.parent == tmp_path / "tmp"
    assert staged.suffix == ""  # an unsafe suffix is dropped
    await stage.cleanup()


async def test_a_part_name_sent_twice_is_refused(tmp_path: Path) -> None:
    data = body(part("operations", b"{}"), part("operations", b"{}"), part("map", b"{}"))
    with pytest.raises(BadUserInputError, match="sent twice"):
        await staging(tmp_path).parse(CONTENT_TYPE, chunks(data, 16))


async def test_too_many_parts_are_refused(tmp_path: Path) -> None:
    data = body(*(part(f"f{i}", b"x") for i in range(5)))
    with pytest.raises(BadUserInputError, match="at most 4 parts"):
        await staging(tmp_path, max_parts=4).parse(CONTENT_TYPE, chunks(data, 16))


async def test_oversized_part_headers_are_refused(tmp_path: Path) -> None:
    data = body(part("0", b"x", filename="a" * 3000 + ".mp3"))
    with pytest.raises(BadUserInputError, match="headers exceed 1024 bytes"):
        await staging(tmp_path, max_part_header_bytes=1024).parse(CONTENT_TYPE, chunks(data, 512))


async def test_the_whole_body_is_bounded_without_a_declared_length(tmp_path: Path) -> None:
    """Many small text parts add up: the body bound stops them, as the stream arrives."""
    read = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal read
        filler = b"".join(part(f"t{i}", b"y" * 900) for i in range(200))
        async for data in chunks(filler, 256):
            read += len(data)
            yield data

    stage = staging(tmp_path, max_file_bytes=4096, max_field_bytes=4096, max_parts=1000)
    with pytest.raises(PayloadTooLargeError):
        await stage.parse(CONTENT_TYPE, counted())
    assert read <= 8192 + 256
