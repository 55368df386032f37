"""What browsers are protected by: security headers on relay's pages, WebSockets that carry no
mutations and no cookie session from other origins, a restrictable /metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from pydantic import SecretStr
from websockets.exceptions import InvalidStatus

from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay


async def test_pages_and_answers_carry_security_headers(
    relay: RunningRelay, client: RelayClient
) -> None:
    page = await client.http.get("/portal")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    answer = await client.http.post("/graphql", json={"query": "{ __typename }"})
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"


async def _over_websocket(
    relay: RunningRelay, query: str, *, headers: dict[str, str]
) -> dict[str, Any]:
    """One operation over graphql-transport-ws; its first answer."""
    url = relay.url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers=headers,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        message: dict[str, Any] = json.loads(await ws.recv())
        return message


async def test_websockets_take_no_mutations_and_no_cookie_from_other_origins(
    relay: RunningRelay, client: RelayClient, accounts: dict[str, Account]
) -> None:
    token = await client.login(accounts["alice"].handle, accounts["alice"].password)
    cookie = {"Cookie": f"relay_session={token}"}
    viewer = "{ viewer { did } }"
    same = await _over_websocket(relay, viewer, headers={**cookie, "Origin": relay.url})
    assert same["payload"]["data"] == {"viewer": {"did": accounts["alice"].did}}
    # A page of another site cannot open one with the user's cookie at all.
    with pytest.raises(InvalidStatus) as refused_origin:
        await _over_websocket(relay, viewer, headers={**cookie, "Origin": "https://evil.example"})
    assert refused_origin.value.response.status_code == 403
    mutation = 'mutation { deleteTrack(id: "VHJhY2s6eA==") { uri } }'
    refused = await _over_websocket(relay, mutation, headers={"Authorization": f"Bearer {token}"})
    errors = refused["payload"] if refused["type"] == "error" else refused["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    assert "HTTP only" in errors[0]["message"]


async def test_metrics_can_require_a_token(relay_settings: Settings) -> None:
    settings = relay_settings.model_copy(update={"metrics_token": SecretStr("scrape-me" * 4)})
    async with run_relay(settings, in_process=True) as relay, relay.client() as client:
        assert (await client.http.get("/metrics")).status_code == 401
        scraped = await client.http.get(
            "/metrics", headers={"Authorization": f"Bearer {'scrape-me' * 4}"}
        )
        assert scraped.status_code == 200 and "relay_uploads_total" in scraped.text
