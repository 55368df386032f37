"""Reading a stranger's repo listings: a cursor that cycles ends the repo as failed instead of
paging forever, a page larger than asked for is refused, records of other repos are ignored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from relay.atproto.repos import RepoClient
from relay.errors import RepoUnavailableError
from relay.net.outbound import OutboundPolicy, outbound_client
from tests.harness.listener import FakeOfflineDns, answer, listening

DID = "did:plc:" + "a" * 24


def record(did: str, rkey: str) -> dict[str, Any]:
    return {"uri": f"at://{did}/app.relay.track/{rkey}", "cid": "bafy" + rkey, "value": {}}


def paging(pages: Mapping[Any, Any]) -> Any:
    """listRecords answering by the request's cursor."""

    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        target = head.split(b" ", 2)[1].decode()
        query = httpx.URL(target).params
        await answer("200 OK", json.dumps(pages[query.get("cursor")]).encode())(head, writer)

    return handler


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    policy = OutboundPolicy(allow_private=True)
    async with outbound_client(policy, resolve=FakeOfflineDns()) as client:
        yield client


async def collect(client: RepoClient, url: str) -> list[str]:
    return [r.rkey async for page in client.list_records(url, DID, "app.relay.track") for r in page]


async def test_a_cycling_cursor_fails_the_repo(http: httpx.AsyncClient) -> None:
    pages = {
        None: {"records": [record(DID, "a")], "cursor": "x"},
        "x": {"records": [record(DID, "b")], "cursor": "y"},
        "y": {"records": [record(DID, "c")], "cursor": "x"},
    }
    async with listening(paging(pages)) as listener:
        with pytest.raises(RepoUnavailableError, match="repeats"):
            await collect(RepoClient(http, page_size=10), listener.url)
        assert len(listener.requests) == 3


async def test_a_cursor_no_request_can_carry_fails_the_repo(http: httpx.AsyncClient) -> None:
    # A lone surrogate escape is JSON, but no URL can hold it: httpx raised UnicodeEncodeError
    # building the next request, which no caller expected (a backfill run ended with it).
    pages = {None: {"records": [record(DID, "a")], "cursor": "\ud800"}}
    body = json.dumps(pages[None]).encode()  # ASCII: the surrogate stays an escape
    async with listening(answer("200 OK", body)) as listener:
        with pytest.raises(RepoUnavailableError, match="could not be reached"):
            await collect(RepoClient(http, page_size=10), listener.url)
        assert len(listener.requests) == 1


async def test_an_oversized_page_is_refused(http: httpx.AsyncClient) -> None:
    pages = {None: {"records": [record(DID, str(i)) for i in range(11)]}}
    async with listening(paging(pages)) as listener:
        with pytest.raises(RepoUnavailableError):
            await collect(RepoClient(http, page_size=10), listener.url)


async def test_records_of_other_repos_are_not_this_listings(http: httpx.AsyncClient) -> None:
    other = "did:plc:" + "b" * 24
    pages = {
        None: {
            "records": [
                record(DID, "mine"),
                record(other, "theirs"),
                {"uri": f"at://{DID}/app.bsky.feed.post/p", "cid": "bafyp", "value": {}},
                "not an object",
            ]
        }
    }
    async with listening(paging(pages)) as listener:
        assert await collect(RepoClient(http, page_size=10), listener.url) == ["mine"]


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        ("200 OK", {"did": DID, "active": True}, "active"),
        ("200 OK", {"did": DID, "active": False, "status": "deactivated"}, "deactivated"),
        ("200 OK", {"did": DID, "active": False, "status": "deleted"}, "deleted"),
        ("200 OK", {"did": DID, "active": False}, "inactive"),
        ("200 OK", {"did": DID, "active": False, "status": "x" * 500}, "inactive"),
        ("400 Bad Request", {"error": "RepoNotFound"}, "deleted"),
    ],
)
async def test_the_repo_status_is_what_its_pds_says(
    http: httpx.AsyncClient, status: str, body: dict[str, Any], said: str
) -> None:
    async with listening(answer(status, json.dumps(body).encode())) as listener:
        assert await RepoClient(http).repo_status(listener.url, DID) == said


async def test_a_pds_that_will_not_say_is_unavailable(http: httpx.AsyncClient) -> None:
    async with listening(answer("500 Internal Server Error", b"{}")) as listener:
        with pytest.raises(RepoUnavailableError):
            await RepoClient(http).repo_status(listener.url, DID)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        ("200 OK", {"did": DID, "collections": ["app.relay.track", "app.bsky.feed.post"]},
         frozenset({"app.relay.track", "app.bsky.feed.post"})),
        ("200 OK", {"did": DID, "collections": []}, frozenset()),
        # What it cannot vouch for is not taken: every collection is listed then.
        ("200 OK", {"did": "did:plc:" + "b" * 24, "collections": ["app.relay.track"]}, None),
        ("200 OK", {"did": DID, "collections": "app.relay.track"}, None),
        ("200 OK", {"did": DID, "collections": [7]}, None),
        ("200 OK", {"did": DID, "collections": ["x" * 400]}, None),
        ("200 OK", {"did": DID, "collections": ["a.b.c"] * 10_001}, None),
        ("200 OK", {"did": DID}, None),
        ("500 Internal Server Error", {"error": "InternalServerError"}, None),
        ("400 Bad Request", {"error": "InvalidRequest"}, None),
    ],
)  # fmt: skip
async def test_the_collections_of_a_repo_are_what_its_pds_describes(
    http: httpx.AsyncClient, status: str, body: dict[str, Any], said: frozenset[str] | None
) -> None:
    async with listening(answer(status, json.dumps(body).encode())) as listener:
        assert await RepoClient(http).collections(listener.url, DID) == said
        assert listener.requests[0].startswith("GET /xrpc/com.atproto.repo.describeRepo?repo=")
