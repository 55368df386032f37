"""Thousands of operations generated from schema.graphql (hypothesis-graphql) against a running
relay: whatever a stranger sends, relay answers without a 5xx and without an INTERNAL error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import NullValueNode, build_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema

from relay.assembly import Collaborators
from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.listener import FakeOfflineDns
from tests.harness.server import RunningRelay, run_relay

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text())
OPERATIONS = 2400
# Every field, `login` and `backfill` included: they reach out to hosts named in their arguments,
# through relay's outbound client and a DNS that knows only the sandbox (below), so whatever
# host a generated document names, the request fails there and not in relay.
# They get a stream of their own: a document that fails in `login` has no data at all, and
# would hide whether the other mutations beside it ran.
OUTBOUND_FIELDS = ["login", "backfill"]
# syncStatus (admins only, no arguments) would only null the data of anonymous queries.
QUERY_FIELDS = [
    name for name in (SCHEMA.query_type.fields if SCHEMA.query_type else {})
    if name != "syncStatus"
]  # fmt: skip
MUTATION_FIELDS = [
    name for name in (SCHEMA.mutation_type.fields if SCHEMA.mutation_type else {})
    if name not in OUTBOUND_FIELDS
]  # fmt: skip


pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def generated_documents() -> list[str]:
    documents: list[str] = []
    strategy = st.one_of(
        from_schema(
            SCHEMA, fields=QUERY_FIELDS, custom_scalars={"Upload": st.just(NullValueNode())}
        ),
        from_schema(
            SCHEMA, fields=MUTATION_FIELDS, custom_scalars={"Upload": st.just(NullValueNode())}
        ),
        from_schema(SCHEMA, fields=OUTBOUND_FIELDS),
    )

    @settings(
        max_examples=OPERATIONS,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(document: object) -> None:
        documents.append(str(document))

    collect()
    return documents


@pytest.fixture
async def relay(
    relay_settings: Settings, accounts: dict[str, Account]
) -> AsyncIterator[RunningRelay]:
    generous = relay_settings.model_copy(
        update={
            "rate_mutations_per_caller": "100000/minute",
            "rate_login_per_address": "100000/minute",
            "publish_worker_interval_seconds": 3600,
            "admin_dids": [accounts["alice"].did],  # backfill and syncStatus run, not refused
        }
    )
    offline = Collaborators(resolve=FakeOfflineDns())
    async with run_relay(generous, offline, in_process=True) as running:
        yield running


async def test_generated_operations_never_break_relay(
    relay: RunningRelay, accounts: dict[str, Account]
) -> None:
    documents = generated_documents()
    assert len(documents) >= 2000
    outbound = sum(any(f"{name}(" in d for name in OUTBOUND_FIELDS) for d in documents)
    assert outbound >= len(documents) // 8, "login and backfill are fuzzed too"
    failures: list[tuple[str, Any]] = []
    executed = 0  # operations that ran (data came back), not only refused ones
    async with relay.client(accounts["alice"]) as signed_in, relay.client() as anonymous:
        for i, document in enumerate(documents):
            client = signed_in if i % 2 else anonymous
            answer = await client.http.post(
                "/graphql",
                json={"query": document},
                headers={"Authorization": f"Bearer {client.token}"} if client.token else {},
            )
            body = (
                answer.json()
                if answer.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
            executed += body.get("data") is not None
            if answer.status_code >= 500 or "INTERNAL" in codes:
                failures.append((document, body or answer.text))
    assert not failures, failures[:3]
    print(f"{executed} of {len(documents)} generated operations executed")
    assert executed >= len(documents) // 4
