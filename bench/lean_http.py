"""A load generator's HTTP/1.1 client that spends little CPU.

On a small machine the load generator shares the cores with the server it measures. httpx spent
about 2 ms of CPU on each request of ``bench.load`` (0.76 of 2 cores at 400 requests/s), CPU
relay did not get. This client does only what a query needs: one keep-alive connection, a JSON
POST, an answer framed by ``Content-Length`` (what relay sends for queries). Anything else is an
error the caller counts, never a silent success.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


class LeanHttpError(Exception):
    """The connection failed or the answer was not framed as expected."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class LeanConnection:
    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._head = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n".encode()

    async def post(self, path: str, body: bytes) -> Answer:
        """POST ``body`` (JSON) to ``path``; ``TimeoutError`` after ``timeout``, or
        ``LeanHttpError``. The connection is opened again for the next request after either."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._exchange(path, body)
        except BaseException:
            await self.close()
            raise

    async def _exchange(self, path: str, body: bytes) -> Answer:
        if self._writer is None:
            try:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            except OSError as exc:
                raise LeanHttpError(f"refused ({type(exc).__name__})") from exc
        assert self._reader is not None
        self._writer.write(
            b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self._head, len(body), body)
        )
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if "content-length" not in headers:
                raise LeanHttpError("an answer without Content-Length")
            data = await self._reader.readexactly(int(headers["content-length"]))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            raise LeanHttpError(f"dropped ({type(exc).__name__})") from exc
        except (ValueError, IndexError) as exc:
            raise LeanHttpError("a malformed answer") from exc
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, data)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
