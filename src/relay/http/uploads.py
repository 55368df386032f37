"""Streaming parser for GraphQL multipart requests (the graphql-multipart-request spec).

The body is read chunk by chunk: text fields (``operations``, ``map``) are kept in memory up to a
small bound; file parts are written to a staging directory on disk while being hashed, in a worker
thread, so the request body is never held whole in memory. A file over the limit stops the read at
once (``PayloadTooLargeError``); ``cleanup()`` removes every staged file, whatever happened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from relay.errors import BadUserInputError, PayloadTooLargeError
from relay.liveness import process_running
from relay.services.track_uploads import StagedUpload

_FLUSH_BYTES = 1024 * 1024  # file data is written in chunks of this size (not a bound)
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}\Z")

# Headers a browser cannot send cross-site without a CORS preflight; one must be present on a
# multipart request, or a form on any web page could post uploads with the user's cookies.
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight")


def staging_dir(root: Path) -> Path:
    """This process's staging area under ``root`` (processes may share a data dir)."""
    return root / f"p{os.getpid()}"


def remove_stale_staging(root: Path) -> int:
    """At start: remove what crashed processes left in the staging area ``root`` — every entry
    but the staging directories of other processes still running (a directory named after this
    process's own pid is a dead predecessor's). Returns how many entries went."""
    removed = 0
    for entry in root.iterdir() if root.is_dir() else ():
        pid = entry.name[1:]
        if (
            entry.is_dir()
            and entry.name.startswith("p")
            and pid.isdigit()
            and process_running(int(pid))
        ):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass(frozen=True)
class MultipartBounds:
    """What one multipart request may hold (settings: max_upload_bytes, max_form_field_bytes,
    max_upload_files)."""

    max_file_bytes: int
    max_field_bytes: int = 1024 * 1024
    max_image_bytes: int = 0  # artwork beside the audio file
    max_files: int = 10
    max_parts: int = 16
    max_part_header_bytes: int = 8 * 1024

    @property
    def max_body_bytes(self) -> int:
        """A declared Content-Length above this cannot be a request relay would accept."""
        return self.max_file_bytes + self.max_image_bytes + self.max_field_bytes


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    text: bytearray = field(default_factory=bytearray)
    handle: BinaryIO | None = None
    path: Path | None = None
    hasher: Any = None
    size: int = 0
    pending: bytearray = field(default_factory=bytearray)


@dataclass
class ParsedMultipart:
    operations: Any
    files_map: dict[str, list[str]]
    files: dict[str, StagedUpload]


def _write(part: _Part, data: bytes) -> None:
    assert part.handle is not None
    part.handle.write(data)
    part.hasher.update(data)


class UploadStaging:
    """Stages the files of one request under ``directory``."""

    def __init__(self, directory: Path, bounds: MultipartBounds) -> None:
        self._dir = directory
        self._bounds = bounds
        self._paths: list[Path] = []
        self._handles: list[BinaryIO] = []

    async def parse(self, content_type: str, body: AsyncIterator[bytes]) -> ParsedMultipart:
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise BadUserInputError("expected multipart/form-data with a boundary")
        await anyio.Path(self._dir).mkdir(parents=True, exist_ok=True)

        events: list[tuple[str, bytes]] = []
        header_field = bytearray()
        header_value = bytearray()
        headers: dict[bytes, bytes] = {}
        header_bytes = 0

        def on_part_data(data: bytes, start: int, end: int) -> None:
            events.append(("data", bytes(data[start:end])))

        def count_header(size: int) -> None:
            nonlocal header_bytes
            header_bytes += size
            if header_bytes > self._bounds.max_part_header_bytes:
                raise BadUserInputError(
                    f"a part's headers exceed {self._bounds.max_part_header_bytes} bytes"
                )

        def on_header_field(data: bytes, start: int, end: int) -> None:
            count_header(end - start)
            header_field.extend(data[start:end])

        def on_header_value(data: bytes, start: int, end: int) -> None:
            count_header(end - start)
            header_value.extend(data[start:end])

        def on_header_end() -> None:
            headers[bytes(header_field).lower()] = bytes(header_value)
            header_field.clear()
            header_value.clear()

        def on_headers_finished() -> None:
            events.append(
                (
                    "begin",
                    json.dumps(
                        {k.decode(): v.decode("latin-1") for k, v in headers.items()}
                    ).encode(),
                )
            )
            headers.clear()
            nonlocal header_bytes
            header_bytes = 0

        def on_part_end() -> None:
            events.append(("end", b""))

        parser = MultipartParser(
            boundary,
            {
                "on_part_data": on_part_data,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_part_end": on_part_end,
            },
        )
        fields: dict[str, bytes] = {}
        files: dict[str, StagedUpload] = {}
        part = _Part()
        names: set[str] = set()
        received = 0
        async for chunk in body:
            received += len(chunk)
            if received > self._bounds.max_body_bytes:  # also when no length was declared
                raise PayloadTooLargeError(self._bounds.max_file_bytes)
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadUserInputError(f"malformed multipart body: {exc}") from exc
            for kind, payload in events:
                if kind == "begin":
                    part = await self._begin(json.loads(payload), len(files))
                    if part.name in names:
                        raise BadUserInputError(f"the part {part.name!r} is sent twice")
                    names.add(part.name)
                    if len(names) > self._bounds.max_parts:
                        raise BadUserInputError(
                            f"at most {self._bounds.max_parts} parts per request"
                        )
                elif kind == "data":
                    await self._data(part, payload)
                else:
                    await self._end(part, fields, files)
            events.clear()
        parser.finalize()
        return self._assemble(fields, files)

    async def _begin(self, headers: dict[str, str], file_count: int) -> _Part:
        disposition, options = parse_options_header(headers.get("content-disposition", ""))
        if disposition != b"form-data" or b"name" not in options:
            raise BadUserInputError("each multipart part needs a form-data content-disposition")
        part = _Part(name=options[b"name"].decode("utf-8", "replace"))
        if b"filename" in options:
            if file_count >= self._bounds.max_files:
                raise BadUserInputError(f"at most {self._bounds.max_files} files per request")
            part.filename = options[b"filename"].decode("utf-8", "replace")
            part.content_type = headers.get("content-type")
            suffix = Path(part.filename).suffix
            suffix = suffix.lower() if _SAFE_SUFFIX.match(suffix) else ""
            part.path = self._dir / f"upload-{secrets.token_hex(12)}{suffix}"
            self._paths.append(part.path)
            part.handle = await anyio.to_thread.run_sync(open, part.path, "wb")
            self._handles.append(part.handle)
            part.hasher = hashlib.sha256()
        return part

    async def _data(self, part: _Part, data: bytes) -> None:
        if part.handle is None:
            part.text.extend(data)
            if len(part.text) > self._bounds.max_field_bytes:
                raise BadUserInputError(f"form field {part.name!r} is too large")
            return
        part.size += len(data)
        if part.size > self._bounds.max_file_bytes:
            raise PayloadTooLargeError(self._bounds.max_file_bytes)
        part.pending.extend(data)
        if len(part.pending) >= _FLUSH_BYTES:
            await self._flush(part)

    async def _flush(self, part: _Part) -> None:
        if part.pending:
            data = bytes(part.pending)
            part.pending.clear()
            await anyio.to_thread.run_sync(_write, part, data)

    async def _end(
        self, part: _Part, fields: dict[str, bytes], files: dict[str, StagedUpload]
    ) -> None:
        if part.handle is None:
            fields[part.name] = bytes(part.text)
            return
        await self._flush(part)
        await anyio.to_thread.run_sync(part.handle.close)
        assert part.path is not None and part.filename is not None
        files[part.name] = StagedUpload(
            path=part.path,
            filename=part.filename,
            content_type=part.content_type,
            size=part.size,
            sha256=part.hasher.hexdigest(),
        )

    @staticmethod
    def _assemble(fields: dict[str, bytes], files: dict[str, StagedUpload]) -> ParsedMultipart:
        try:
            operations = json.loads(fields["operations"])
            files_map = json.loads(fields.get("map", b"{}"))
        except KeyError:
            raise BadUserInputError("multipart request has no 'operations' field") from None
        except ValueError as exc:
            raise BadUserInputError("'operations' and 'map' must be JSON") from exc
        if not isinstance(files_map, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in files_map.values()
        ):
            raise BadUserInputError("'map' must map file fields to lists of variable paths")
        missing = [name for name in files_map if name not in files]
        if missing:
            raise BadUserInputError(f"files named in 'map' are missing: {', '.join(missing)}")
        return ParsedMultipart(operations=operations, files_map=files_map, files=files)

    async def cleanup(self) -> None:
        """Close and delete every staged file (safe to call more than once)."""
        for handle in self._handles:
            if not handle.closed:
                await anyio.to_thread.run_sync(handle.close)
        for path in self._paths:
            await anyio.Path(path).unlink(missing_ok=True)
        self._handles.clear()
        self._paths.clear()
