"""A relay with production's outbound rules (no private addresses) cannot be made to reach an
internal service — by a handle, a PDS URL, a DID — and what it tells callers about a failing
upstream is in its own words: no status, no exception class, no upstream message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.listener import Listener, answer, listening
from tests.harness.server import RunningRelay, run_relay

LEAKY = answer("500 Internal Server Error", b"Traceback: /srv/secret-detail.py", X_Debug="on")
LEAKED = ("secret-detail", "500", "Traceback", "ConnectError", "RefusedAddress", "HTTPError")


@pytest.fixture
async def internal() -> AsyncIterator[Listener]:
    """An internal service on 127.0.0.1 that nothing from outside should reach through relay."""
    async with listening(LEAKY) as listener:
        yield listener


@pytest.fixture
async def production(relay_settings: Settings, internal: Listener) -> AsyncIterator[RunningRelay]:
    strict = relay_settings.model_copy(
        update={"allow_private_addresses": False, "handle_resolver_url": internal.url}
    )
    async with run_relay(strict, in_process=True) as relay:
        yield relay


async def test_a_login_reaches_no_internal_address(
    production: RunningRelay, internal: Listener, accounts: dict[str, Account]
) -> None:
    alice = accounts["alice"]
    async with production.client() as client:
        for identifier in (alice.handle, alice.did):  # resolver service, PLC: both on 127.0.0.1
            result = await client.gql(
                "mutation($i: String!) { login(identifier: $i, password: $i) { token } }",
                {"i": identifier},
            )
            assert result.codes == ["UPSTREAM_UNAVAILABLE"], result.body
            message = result.messages[0]
            assert not any(word in message for word in (*LEAKED, "127.0.0.1")), message
    assert internal.connections == 0


@pytest.mark.parametrize(
    "identifier",
    [
        "http://127.0.0.1:{port}/",
        "https://127.0.0.1:{port}",
        "http://localhost:{port}",
        "https://[::1]:{port}",
        "https://[::ffff:127.0.0.1]:{port}",
        "169.254.169.254",
        "https://169.254.169.254",
        "https://100.64.0.1",
        "127.0.0.1:{port}",
    ],
)
async def test_sign_in_cannot_be_pointed_at_internal_services(
    production: RunningRelay, internal: Listener, identifier: str
) -> None:
    async with production.client() as client:
        page = await client.http.get(
            "/oauth/login", params={"handle": identifier.format(port=internal.port)}
        )
    assert page.status_code in (400, 502), page.text
    assert "location" not in page.headers
    assert not any(word in page.text for word in LEAKED), page.text
    assert internal.connections == 0


async def test_a_failing_upstream_is_described_without_its_details(
    relay: RunningRelay, internal: Listener
) -> None:
    """In development (private addresses allowed) relay does reach the host; what it answered is
    logged for the operator, not shown to the user."""
    async with relay.client() as client:
        page = await client.http.get("/oauth/login", params={"handle": internal.url})
    assert internal.connections > 0, "the development relay did ask the host"
    assert page.status_code == 502
    assert "Sign-in failed" in page.text
    assert not any(word in page.text for word in LEAKED), page.text
