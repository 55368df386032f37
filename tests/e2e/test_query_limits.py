"""Bounded GraphQL: documents over the depth, alias, token or cost limits are refused with a code
naming the limit and its value before any SQL runs; JSON bodies over a bound get 413; batches are
refused; the documents relay's own clients send pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import get_introspection_query

from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay
from tests.harness.sql import statements

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
async def relay(relay_settings: Settings) -> AsyncIterator[RunningRelay]:
    quiet = relay_settings.model_copy(update={"publish_worker_interval_seconds": 3600})
    async with run_relay(quiet, in_process=True) as running:
        yield running


def nested(levels: int, page: str = "first: 100") -> str:
    inner = "did"
    for _ in range(levels):
        inner = f"tracks({page}) {{ edges {{ node {{ title artistProfile {{ {inner} }} }} }} }}"
    return f"{{ {inner} }}"


async def refused(
    relay: RunningRelay, client: RelayClient, query: str, **variables: Any
) -> dict[str, Any]:
    with statements(relay) as sql:
        result = await client.gql(query, variables)
    assert sql == [], "a refused document must not reach the database"
    assert result.body["data"] is None
    limits = {
        e["extensions"]["limit"]: e["extensions"]["max"]
        for e in result.body["errors"]
        if e["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    }
    assert limits, result.body
    return limits


async def test_a_deep_document_is_refused(relay: RunningRelay, client: RelayClient) -> None:
    limits = await refused(relay, client, nested(8, page="first: 1"))
    assert limits["depth"] == 12


def aliases(count: int) -> str:
    return (
        "{ " + " ".join(f"a{i}: tracks(first: 100) {{ totalCount }}" for i in range(count)) + " }"
    )


async def test_many_aliases_are_refused(relay: RunningRelay, client: RelayClient) -> None:
    assert (await refused(relay, client, aliases(100)))["aliases"] == 20
    assert await refused(relay, client, aliases(500))  # so long it stops at the token limit


async def test_a_huge_document_is_refused_while_parsing(
    relay: RunningRelay, client: RelayClient
) -> None:
    query = "{ " + "__typename " * 6000 + "}"
    assert await refused(relay, client, query) == {"tokens": 5000}


@pytest.mark.parametrize(
    "query",
    [
        nested(2),  # 100 pages of 100 tracks
        "query($n: Int) { tracks(first: $n) { edges { node { artistProfile { "
        "tracks(first: $n) { edges { node { title } } } } } } } }",  # variables count as 100
    ],
)
async def test_a_costly_document_is_refused(
    relay: RunningRelay, client: RelayClient, query: str
) -> None:
    assert await refused(relay, client, query, n=2) == {"cost": 5000}


async def test_what_relays_own_clients_send_passes(client: RelayClient) -> None:
    assert (await client.gql(get_introspection_query())).data["__schema"]  # GraphiQL
    page = """
    query($after: String) {
      tracks(first: 100, after: $after, where: {published: true}) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { cursor node { id uri cid rkey title artist album audioUrl audioHost playable
          fileType duration createdAt indexedAt artistDid artistHandle publishState
          publishError record artistProfile { did handle trackCount totalDuration } } }
      }
    }
    """
    assert (await client.gql(page)).data["tracks"]["totalCount"] == 0
    assert (await client.gql(nested(1))).data["tracks"]["edges"] == []


async def test_an_oversized_json_body_gets_413(client: RelayClient) -> None:
    padding = "x" * (1024 * 1024)
    declared = await client.http.post(
        "/graphql", json={"query": "{ __typename }", "variables": {"pad": padding}}
    )
    assert declared.status_code == 413
    assert declared.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}}'

    streamed = await client.http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_batched_requests_are_refused(client: RelayClient) -> None:
    batch = [{"query": "{ __typename }"}] * 50
    answer = await client.http.post("/graphql", json=batch)
    assert answer.status_code == 400


async def test_one_login_per_operation(relay: RunningRelay, client: RelayClient) -> None:
    query = (
        "mutation { "
        + " ".join(
            f'l{i}: login(identifier: "alice.test", password: "guess{i}") {{ token }}'
            for i in range(5)
        )
        + " }"
    )
    assert await refused(relay, client, query) == {"logins": 1}
