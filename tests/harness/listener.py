"""Raw HTTP listeners on 127.0.0.1 for the outbound client's tests: they count connections (to
prove none was made) and answer as a hostile host would — huge, endless or trickling bodies,
redirects, server errors with details that must not be echoed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# (request line and headers, writer) → writes the answer.
Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Listener:
    """A real TCP server on 127.0.0.1 that counts the connections it accepted."""

    port: int = 0
    connections: int = 0
    requests: list[str] = field(default_factory=list)  # request lines, e.g. "GET /x HTTP/1.1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def listening(handler: Handler) -> AsyncIterator[Listener]:
    listener = Listener()

    writers: set[asyncio.StreamWriter] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.connections += 1
        writers.add(writer)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            listener.requests.append(head.split(b"\r\n", 1)[0].decode())
            await handler(head, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        await asyncio.wait_for(server.wait_closed(), timeout=10)


def answer(status: str, body: bytes = b"", **headers: str) -> Handler:
    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return handler


async def chunked_forever(head: bytes, writer: asyncio.StreamWriter) -> None:
    """No Content-Length: 64 KiB chunks until the client hangs up."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def trickle(head: bytes, writer: asyncio.StreamWriter) -> None:
    """A byte every 100 ms: no single read ever waits long, the whole never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    while True:
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.1)


def routes(table: dict[str, Handler]) -> Handler:
    """Answers by request path (without the query); 404 for the rest."""
    missing = answer("404 Not Found")

    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        path = head.split(b" ", 2)[1].decode().split("?", 1)[0]
        await table.get(path, missing)(head, writer)

    return handler


def json_answer(value: object, status: str = "200 OK") -> Handler:
    return answer(status, json.dumps(value).encode(), Content_Type="application/json")


class FakeOfflineDns:
    """A resolver for a machine with no network but the sandbox on loopback (the tests' machine
    has no internet; this keeps random host names from waiting on a DNS timeout)."""

    async def __call__(self, host: str, port: int) -> list[str]:
        if host in ("127.0.0.1", "localhost"):
            return ["127.0.0.1"]
        raise OSError(f"{host}: no such name (offline)")
