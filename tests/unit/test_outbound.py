"""The outbound client against real sockets on 127.0.0.1: internal addresses are refused before
any byte leaves (also when a name only resolves to one), the address connected is the one that
was checked, responses are capped in size and time, redirects are not followed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from relay.net.addresses import refusal
from relay.net.outbound import (
    OutboundPolicy,
    RefusedAddressError,
    ResponseTooLargeError,
    TotalTimeoutError,
    outbound_client,
)
from tests.harness.listener import answer, chunked_forever, listening, trickle


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("192.0.2.10", "private"),
        ("240.0.0.1", "private"),
        # IPv4 hidden in IPv6: mapped, NAT64, 6to4, Teredo.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::1", "loopback"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
    ],
)
def test_internal_addresses_are_refused(address: str, reason: str) -> None:
    assert refusal(address) == reason


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "151.101.1.1", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


class FakeDns:
    """A resolver for names that exist only in this test (the fault real DNS will not stage: a
    public-looking name pointing at loopback). Records every lookup."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise OSError(f"{host}: no such name")
        return self.table[host]


STRICT = OutboundPolicy(allow_private=False, max_response_bytes=1024 * 1024, total_seconds=2)
LAX = OutboundPolicy(allow_private=True, max_response_bytes=1024 * 1024, total_seconds=2)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_loopback_is_refused_before_connecting(host: str) -> None:
    async with listening(answer("200 OK", b"secret")) as listener, outbound_client(STRICT) as http:
        with pytest.raises(RefusedAddressError) as refused:
            await http.get(f"http://{host}:{listener.port}/")
        assert refused.value.reason == "loopback"
        with pytest.raises(RefusedAddressError):
            await http.post(f"http://{host}:{listener.port}/", json={"a": 1})
    assert listener.connections == 0, "not a byte reached the internal service"


async def test_a_public_looking_name_for_loopback_is_refused() -> None:
    dns = FakeDns({"pds.rebind.example": ["127.0.0.1"]})
    async with (
        listening(answer("200 OK", b"secret")) as listener,
        outbound_client(STRICT, resolve=dns) as http,
    ):
        with pytest.raises(RefusedAddressError):
            await http.get(f"http://pds.rebind.example:{listener.port}/")
    assert listener.connections == 0
    assert dns.lookups == ["pds.rebind.example"]


async def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    dns = FakeDns({"mixed.example": ["8.8.8.8", "10.0.0.5"]})
    async with outbound_client(STRICT, resolve=dns) as http:
        with pytest.raises(RefusedAddressError) as refused:
            await http.get("https://mixed.example/")
    assert refused.value.reason == "private"


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    """The name is looked up once, by relay, and the socket opens to that address: a name the
    system resolver does not know still connects, so no second lookup (rebinding) happens."""
    dns = FakeDns({"only-in-this-test.example": ["127.0.0.1"]})
    async with (
        listening(answer("200 OK", b"hello")) as listener,
        outbound_client(LAX, resolve=dns) as http,
    ):
        response = await http.get(f"http://only-in-this-test.example:{listener.port}/")
    assert (response.status_code, response.content) == (200, b"hello")
    assert listener.connections == 1
    assert dns.lookups == ["only-in-this-test.example"]


async def test_redirects_are_not_followed() -> None:
    async with listening(answer("200 OK", b"inside")) as inside:
        moved = answer("302 Found", Location=f"{inside.url}/admin")
        async with listening(moved) as outside, outbound_client(LAX) as http:
            response = await http.get(outside.url)
    assert response.status_code == 302
    assert inside.connections == 0


async def test_a_declared_oversized_body_is_refused_unread() -> None:
    huge = answer("200 OK", b"x" * (2 * 1024 * 1024))
    async with listening(huge) as listener, outbound_client(LAX) as http:
        with pytest.raises(ResponseTooLargeError):
            await http.get(listener.url)


async def test_an_endless_chunked_body_stops_at_the_cap() -> None:
    async with listening(chunked_forever) as listener, outbound_client(LAX) as http:
        with pytest.raises(ResponseTooLargeError):
            await http.get(listener.url)


async def test_a_call_may_lower_the_cap() -> None:
    small = answer("200 OK", b"x" * 5000)
    async with listening(small) as listener, outbound_client(LAX) as http:
        with pytest.raises(ResponseTooLargeError):
            await http.get(listener.url, extensions={"relay_max_response_bytes": 4096})
        assert len((await http.get(listener.url)).content) == 5000


async def test_a_trickling_body_hits_the_total_time_limit() -> None:
    policy = OutboundPolicy(allow_private=True, total_seconds=1, timeout_seconds=5)
    async with listening(trickle) as listener, outbound_client(policy) as http:
        with pytest.raises(TotalTimeoutError):
            await http.get(listener.url)


async def test_only_http_urls() -> None:
    async with outbound_client(LAX) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("file:///etc/passwd")


async def test_every_refusal_is_an_httpx_error() -> None:
    """Callers already handle ``httpx.HTTPError``: each refusal lands in the same place."""
    assert issubclass(RefusedAddressError, httpx.HTTPError)
    assert issubclass(ResponseTooLargeError, httpx.HTTPError)
    assert issubclass(TotalTimeoutError, httpx.HTTPError)


async def test_a_hosts_cookies_are_not_kept_nor_sent_back() -> None:
    heads: list[bytes] = []
    setting = answer("200 OK", b"{}", Set_Cookie="session=stranger; Path=/")

    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        heads.append(head)
        await setting(head, writer)

    async with (
        listening(handler) as listener,
        outbound_client(OutboundPolicy(allow_private=True)) as client,
    ):
        for _ in range(2):
            response = await client.get(f"{listener.url}/xrpc/x")
            assert response.headers["set-cookie"].startswith("session=")
        assert len(client.cookies) == 0
    assert len(heads) == 2 and all(b"cookie" not in head.lower() for head in heads)
