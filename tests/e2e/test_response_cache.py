"""The response cache: anonymous queries answered from memory until the index changes — by this
process at once, by another process (another engine on the same database) as soon as it commits
(SQLite) or within the recheck time (PostgreSQL) — and never for a signed-in caller, a mutation
or an answer with errors. GET answers carry Cache-Control and an ETag (304 when unchanged)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from relay.db.engine import create_engine, session_factory
from relay.db.tracks import TrackIndex
from relay.settings import Settings
from tests.harness.catalog import EPOCH, catalog_row, insert_rows
from tests.harness.server import RunningRelay, run_relay
from tests.harness.sql import statements

DID = "did:plc:" + "c" * 24
PAGE = (
    "query($d: String!) { tracks(first: 5, where: {artistDid: $d}) { edges { node { title } } } }"
)


def row(i: int) -> Any:
    return catalog_row(
        DID, f"3k{i:011d}", title=f"Cached {i}", artist="Cy",
        audio_url=f"https://audio.example/{i}.mp3", created_at=EPOCH + timedelta(minutes=i),
    )  # fmt: skip


@pytest.fixture
async def relay(relay_settings: Settings) -> AsyncIterator[RunningRelay]:
    settings = relay_settings.model_copy(update={"response_cache_recheck_seconds": 0.2})
    async with run_relay(settings, in_process=True) as running:
        await insert_rows(running, [row(1)])
        yield running


@pytest.fixture
async def http(relay: RunningRelay) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=relay.transport, base_url=relay.url) as client:
        yield client


async def post(http: httpx.AsyncClient, query: str = PAGE, **headers: str) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query, "variables": {"d": DID}}, headers=headers
    )


def titles(response: httpx.Response) -> list[str]:
    return [e["node"]["title"] for e in response.json()["data"]["tracks"]["edges"]]


async def test_identical_misses_arriving_together_are_computed_once(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    with statements(relay) as sql:
        answers = await asyncio.gather(*(post(http) for _ in range(12)))
    how = sorted(a.headers["x-relay-cache"] for a in answers)
    assert how.count("miss") == 1, how  # the others waited for its answer, or found it kept
    assert set(how) <= {"miss", "shared", "hit"}
    assert len({a.content for a in answers}) == 1
    assert titles(answers[0]) == ["Cached 1"]
    pages = [s for s in sql if "FROM tracks" in s]
    assert len(pages) == 1, pages


async def test_a_repeated_query_is_answered_from_memory(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    first = await post(http)
    assert first.headers["x-relay-cache"] == "miss"
    with statements(relay) as sql:
        # The same query, spaced and commented differently: the same entry, no SQL.
        again = await post(http, "# the same\n" + PAGE.replace(" {", "  {"))
    assert again.headers["x-relay-cache"] == "hit"
    assert sql == []
    assert again.content == first.content
    assert titles(again) == ["Cached 1"]
    assert again.headers["etag"] == first.headers["etag"]


async def test_a_write_by_another_process_is_seen(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    assert titles(await post(http)) == ["Cached 1"]
    await insert_rows(relay, [row(2)])  # its own engine: what another process would do
    await asyncio.sleep(0.25)  # PostgreSQL's recheck time (SQLite sees the WAL at once)
    fresh = await post(http)
    assert fresh.headers["x-relay-cache"] == "miss"
    assert titles(fresh) == ["Cached 2", "Cached 1"]


async def test_a_write_by_this_process_is_seen_at_once(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    assert titles(await post(http)) == ["Cached 1"]
    await TrackIndex(session_factory(relay.parts.engine)).insert(row(3))  # relay's own engine
    fresh = await post(http)
    assert fresh.headers["x-relay-cache"] == "miss"
    assert titles(fresh) == ["Cached 3", "Cached 1"]


async def test_an_answer_about_one_artist_outlives_changes_to_anothers(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    """Answers about named artists (here: DID's page and one of DID's tracks) stay while other
    artists' tracks change — by this process or another; an answer about every track does not."""
    one = f'{{ track(uri: "at://{DID}/app.relay.track/3k00000000001") {{ title }} }}'
    everyone = "{ tracks(first: 5) { edges { node { title } } } }"

    async def ask(query: str = PAGE) -> httpx.Response:
        response = await post(http, query)
        assert "errors" not in response.json()
        return response

    for query in (PAGE, one, everyone):
        await ask(query)
    elsewhere = "did:plc:" + "f" * 24
    await TrackIndex(session_factory(relay.parts.engine)).insert(
        catalog_row(elsewhere, "3kelsewhere01", title="Here", artist="F", created_at=EPOCH)
    )
    await insert_rows(relay, [  # another process
        catalog_row(elsewhere, "3kelsewhere02", title="There", artist="F", created_at=EPOCH)
    ])  # fmt: skip
    await asyncio.sleep(0.25)  # PostgreSQL's recheck time
    assert (await ask()).headers["x-relay-cache"] == "hit"
    assert (await ask(one)).headers["x-relay-cache"] == "hit"
    every = await ask(everyone)
    assert every.headers["x-relay-cache"] == "miss"
    assert {"Here", "There"} <= set(titles(every))
    await insert_rows(relay, [row(2)])  # and now DID's own tracks change
    await asyncio.sleep(0.25)
    page = await ask()
    assert page.headers["x-relay-cache"] == "miss"
    assert titles(page) == ["Cached 2", "Cached 1"]
    assert (await ask(one)).headers["x-relay-cache"] == "miss"


async def test_a_commit_that_changed_nothing_keeps_answers(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    await post(http)
    # What a periodic sweep with nothing to do commits (the audio collector, every pass).
    async with relay.parts.engine.begin() as conn:
        await conn.execute(text("UPDATE tracks SET hidden = hidden WHERE uri = 'nothing'"))
    assert (await post(http)).headers["x-relay-cache"] == "hit"
    async with relay.parts.engine.begin() as conn:
        await conn.execute(
            text("UPDATE tracks SET title = 'Renamed' WHERE artist_did = :d"), {"d": DID}
        )
    renamed = await post(http)
    assert renamed.headers["x-relay-cache"] == "miss"
    assert titles(renamed) == ["Renamed"]


async def test_writes_that_change_no_track_keep_answers(
    relay: RunningRelay, http: httpx.AsyncClient
) -> None:
    """A firehose cursor saved (every batch of a live stream, mostly other collections) by this
    process or another leaves every cached answer valid; a change to a track does not."""
    cursor = text("INSERT INTO sync_cursors (source, cursor, updated_at) VALUES (:s, 1, :t)")
    await post(http)
    async with relay.parts.engine.begin() as conn:  # this process
        await conn.execute(cursor, {"s": "wss://here.example", "t": EPOCH})
    assert (await post(http)).headers["x-relay-cache"] == "hit"
    other = create_engine(relay.settings.resolved_database_url)  # another process
    try:
        async with other.begin() as conn:
            await conn.execute(cursor, {"s": "wss://there.example", "t": EPOCH})
        await asyncio.sleep(0.25)  # PostgreSQL's recheck time
        assert (await post(http)).headers["x-relay-cache"] == "hit"
        async with other.begin() as conn:
            await conn.execute(
                text("UPDATE tracks SET title = 'Elsewhere' WHERE artist_did = :d"), {"d": DID}
            )
    finally:
        await other.dispose()
    await asyncio.sleep(0.25)
    changed = await post(http)
    assert changed.headers["x-relay-cache"] == "miss"
    assert titles(changed) == ["Elsewhere"]


async def test_signed_in_callers_errors_and_mutations_are_not_kept(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        signed_in = await post(http, Authorization="Bearer not-a-session")
        assert "x-relay-cache" not in signed_in.headers
        refused = await post(http, "{ syncStatus { gaps } }")
        assert refused.json()["errors"]
        assert refused.headers.get("x-relay-cache") != "hit"
        mutation = await post(http, "mutation { logout }")
        assert "x-relay-cache" not in mutation.headers


async def test_get_answers_are_cacheable_by_a_cdn(http: httpx.AsyncClient) -> None:
    params = {"query": PAGE, "variables": f'{{"d": "{DID}"}}'}
    first = await http.get("/graphql", params=params)
    assert first.status_code == 200, first.text
    assert titles(first) == ["Cached 1"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert "Cookie" in first.headers["vary"]
    etag = first.headers["etag"]
    unchanged = await http.get("/graphql", params=params, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    signed_in = await http.get("/graphql", params=params, headers={"Authorization": "Bearer x"})
    assert "public" not in signed_in.headers.get("cache-control", "")


async def test_automatic_persisted_queries(http: httpx.AsyncClient) -> None:
    digest = hashlib.sha256(PAGE.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    variables = {"d": DID}
    unknown = await http.post("/graphql", json={"variables": variables, "extensions": persisted})
    assert unknown.status_code == 200
    error = unknown.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    both = {"query": PAGE, "variables": variables, "extensions": persisted}
    assert titles(await http.post("/graphql", json=both)) == ["Cached 1"]
    by_hash = await http.post("/graphql", json={"variables": variables, "extensions": persisted})
    assert titles(by_hash) == ["Cached 1"]
    # A short GET a CDN can cache: the hash and the variables.
    params = {"extensions": json.dumps(persisted), "variables": json.dumps(variables)}
    first, again = [await http.get("/graphql", params=params) for _ in range(2)]
    assert titles(first) == titles(again) == ["Cached 1"]
    assert again.headers["x-relay-cache"] == "hit"
    assert again.headers["cache-control"].startswith("public")
    wrong = {"query": "{ instance { maxUploadBytes } }", "extensions": persisted}
    refused = await http.post("/graphql", json=wrong)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
