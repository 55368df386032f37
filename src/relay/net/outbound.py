"""The one outbound HTTP client: every request relay makes to a host a stranger chose goes here.

Handles, DID documents, PDS endpoints and authorization servers are named by whoever controls an
identity, so relay treats every such URL as hostile:

- the host is resolved here and **the address actually connected is checked** — loopback,
  private, link-local (cloud metadata), CGNAT and reserved addresses are refused, and since the
  connection goes to the address that was checked, DNS rebinding cannot slip past the check;
- each response is capped in size (``Content-Length`` and the bytes actually read) and each
  request in total time (connecting, waiting, reading — a slow trickle cannot hold a worker);
- redirects are never followed and no proxy comes from the environment.

``OutboundPolicy.allow_private`` lifts the address check for development and tests, where the
PLC and PDS listen on 127.0.0.1 (``relay dev`` sets it; production leaves it off).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpcore
import httpx

from relay.net.addresses import refusal

# Resolves (host, port) to the IP addresses to try, in order.
Resolve = Callable[[str, int], Awaitable[list[str]]]

# A request may set its own response cap and total time: extensions={MAX_BYTES: n, ...}.
MAX_BYTES = "relay_max_response_bytes"  # a request's own bound, instead of the policy's
TOTAL_SECONDS = "relay_total_seconds"  # likewise, for the whole request


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private: bool = False
    max_response_bytes: int = 4 * 1024 * 1024
    total_seconds: float = 30.0  # the whole request, from connecting to the last byte
    timeout_seconds: float = 10.0  # each step (connect, write, each read) unless a call says
    user_agent: str = "relay"


class RefusedAddressError(httpx.ConnectError):
    """The host resolves to an address relay does not connect to (``.reason``)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} resolves to a {reason} address")
        self.host = host
        self.reason = reason


class ResponseTooLargeError(httpx.ReadError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the response exceeds {limit} bytes")
        self.limit = limit


REQUEST_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx.InvalidURL, UnicodeError)
"""What a request to a URL built from outside input may raise: httpx's errors on the way, and
before any connection a URL httpx cannot parse (``InvalidURL``) or text it cannot encode (a host
IDNA refuses, a page cursor holding a lone surrogate: ``UnicodeError``)."""


class TotalTimeoutError(httpx.TimeoutException):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request took longer than {seconds:g}s")


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host`` (an IP literal resolves to itself)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address check between resolving and connecting."""

    def __init__(
        self, policy: OutboundPolicy, *, resolve: Resolve = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:  # fmt: skip
        self._policy = policy
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        if not self._policy.allow_private:
            # One refused address refuses the host: a name that mixes public and internal
            # addresses is not one relay should be talking to.
            for address in addresses:
                if (reason := refusal(address)) is not None:
                    raise RefusedAddressError(host, reason)
        failure: Exception | None = None
        for address in addresses[:4]:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )  # fmt: skip
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("relay makes no outbound requests over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore's exceptions as httpx's (most specific first), so callers catch httpx.HTTPError only.
_MAPPED: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


def _reraise(exc: Exception) -> NoReturn:
    """Raise ``exc`` as the httpx exception it corresponds to (itself when there is none)."""
    if not isinstance(exc, httpx.HTTPError):
        for source, target in _MAPPED:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
    raise exc


class _BoundedStream(httpx.AsyncByteStream):
    """The response body, read against the size cap and the request's deadline."""

    def __init__(self, stream: Any, *, limit: int, deadline: float, total: float) -> None:
        self._stream = stream
        self._limit = limit
        self._deadline = deadline
        self._total = total

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        chunks = aiter(self._stream)
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise TotalTimeoutError(self._total) from None
            except Exception as exc:
                _reraise(exc)
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLargeError(self._limit)
            yield chunk

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: OutboundPolicy, *, resolve: Resolve = system_resolve) -> None:
        self._policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(policy, resolve=resolve),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"relay fetches only http(s) URLs: {request.url}")
        assert isinstance(request.stream, httpx.AsyncByteStream)
        # A caller may set its own bounds (an identity document: smaller; a repo's CAR, spooled
        # to disk: larger) — relay's code, never what a remote host says.
        limit = int(request.extensions.get(MAX_BYTES, self._policy.max_response_bytes))
        total = float(request.extensions.get(TOTAL_SECONDS, self._policy.total_seconds))
        deadline = asyncio.get_running_loop().time() + total
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            async with asyncio.timeout_at(deadline):
                answer = await self._pool.handle_async_request(core_request)
        except TimeoutError:
            raise TotalTimeoutError(total) from None
        except Exception as exc:
            _reraise(exc)
        response = httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_BoundedStream(answer.stream, limit=limit, deadline=deadline, total=total),
            extensions=answer.extensions,
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            await response.aclose()
            raise ResponseTooLargeError(limit)
        return response

    async def aclose(self) -> None:
        await self._pool.aclose()


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing: what a host sets is never stored."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """httpx's client without its cookie jar. No host relay calls holds a session by cookie, and
    a stranger's ``Set-Cookie`` should not follow relay's later requests; reading every answer
    into a jar also cost ~8% of a request's CPU (a backfill makes thousands)."""

    def __init__(self, **kwargs: Any) -> None:
        self._no_cookies = _NoCookies()
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass  # httpx's constructor sets an empty jar: none is kept


def outbound_client(
    policy: OutboundPolicy, *, resolve: Resolve = system_resolve
) -> httpx.AsyncClient:
    """The client for everything relay fetches from hosts it does not run (close it when done)."""
    return _CookielessClient(
        transport=GuardedTransport(policy, resolve=resolve),
        timeout=policy.timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": policy.user_agent},
    )
