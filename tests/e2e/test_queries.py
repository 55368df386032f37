"""The tracks connection: cursors both ways, totalCount, filters, search and ordering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from relay.db.models import TrackRow
from relay.domain import FileType
from relay.settings import Settings
from tests.harness.catalog import EPOCH, catalog_row, insert_rows
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay
from tests.harness.sql import statements

QUERY = """
query($first: Int, $after: String, $last: Int, $before: String, $where: TrackFilter,
      $orderBy: TrackOrder) {
  tracks(first: $first, after: $after, last: $last, before: $before, where: $where,
         orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { title artist album duration fileType artistDid } }
  }
}
"""


def _row(i: int, **overrides: Any) -> TrackRow:
    did = "did:plc:" + ("a" if i % 2 else "b") * 24
    values: dict[str, Any] = {
        "title": f"Song {i:02d}",
        "artist": "Ada" if i % 2 else "Bo",
        "album": "First" if i < 10 else None,
        "audio_url": f"https://audio.example/{i}.mp3",
        "file_type": FileType.MP3 if i % 3 else FileType.FLAC,
        "duration": (i * 7) % 13,
        "created_at": EPOCH + timedelta(minutes=i),
    }
    values.update(overrides)
    return catalog_row(did, f"3k{i:011d}", **values)


@pytest.fixture
async def relay(relay_settings: Settings) -> AsyncIterator[RunningRelay]:
    """Read paths need no socket: relay runs in process."""
    async with run_relay(relay_settings, in_process=True) as running:
        yield running


@pytest.fixture
async def seeded(relay: RunningRelay) -> RunningRelay:
    rows = [_row(i) for i in range(25)]
    rows.append(_row(99, title="Ünïcode 50% off_sale", album="Odd", duration=None))
    await insert_rows(relay, rows)
    return relay


async def _page(client: RelayClient, **variables: Any) -> dict[str, Any]:
    result = await client.gql(QUERY, variables)
    tracks: dict[str, Any] = result.data["tracks"]
    return tracks


def _titles(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in page["edges"]]


async def test_forward_and_backward_pagination_cover_every_track_once(
    seeded: RunningRelay, client: RelayClient
) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = await _page(client, first=7, after=after)
        assert page["totalCount"] == 26
        seen += _titles(page)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 26 and len(set(seen)) == 26
    assert seen[0] == "Ünïcode 50% off_sale"  # newest first by default
    assert seen[1:4] == ["Song 24", "Song 23", "Song 22"]

    back: list[str] = []
    before = None
    while True:
        page = await _page(client, last=5, before=before)
        back = _titles(page) + back
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert back == seen


async def test_edge_cursors_are_given_however_the_document_asks_for_them(
    seeded: RunningRelay, client: RelayClient
) -> None:
    """A page encodes an edge's cursor only when the document selects it: asked through a named
    fragment, an inline fragment or an alias, every edge has its cursor, and each one continues
    the pagination right after its track; not asked, pageInfo's cursors are still there."""
    reference = await _page(client, first=4)
    expected = [edge["cursor"] for edge in reference["edges"]]
    assert all(expected) and expected[-1] == reference["pageInfo"]["endCursor"]
    documents = [
        """fragment E on TrackEdge { cursor }
        query { tracks(first: 4) { edges { ...E node { title } } } }""",
        "query { tracks(first: 4) { edges { ... on TrackEdge { cursor } node { title } } } }",
        "query { tracks(first: 4) { edges { c: cursor node { title } } } }",
        """fragment C on TrackConnection { edges { cursor } }
        query { tracks(first: 4) { ...C edges { node { title } } } }""",
    ]
    for document in documents:
        edges = (await client.gql(document)).data["tracks"]["edges"]
        assert [edge.get("cursor", edge.get("c")) for edge in edges] == expected, document
    for i, cursor in enumerate(expected[:-1]):
        following = await _page(client, first=1, after=cursor)
        assert _titles(following) == [_titles(reference)[i + 1]]
    bare_document = """query {
      tracks(first: 4) { pageInfo { startCursor endCursor } edges { node { title } } }
    }"""
    bare = (await client.gql(bare_document)).data["tracks"]
    assert bare["pageInfo"] == {"startCursor": expected[0], "endCursor": expected[-1]}
    assert "cursor" not in bare["edges"][0]


@pytest.mark.parametrize(
    ("order", "expected_first"),
    [
        ({"field": "CREATED_AT", "direction": "ASC"}, ["Song 00", "Song 01", "Song 02"]),
        ({"field": "TITLE", "direction": "ASC"}, ["Song 00", "Song 01", "Song 02"]),
        ({"field": "TITLE", "direction": "DESC"}, ["Ünïcode 50% off_sale", "Song 24", "Song 23"]),
        ({"field": "DURATION", "direction": "DESC"}, ["Song 24", "Song 11", "Song 22"]),
    ],
)
async def test_ordering(
    order: dict[str, str], expected_first: list[str], seeded: RunningRelay, client: RelayClient
) -> None:
    page = await _page(client, first=3, orderBy=order)
    assert _titles(page) == expected_first
    rest = await _page(client, first=30, after=page["pageInfo"]["endCursor"], orderBy=order)
    assert len(rest["edges"]) == 23
    assert not set(_titles(rest)) & set(expected_first)


@pytest.mark.parametrize(
    ("where", "count"),
    [
        ({"artistDid": "did:plc:" + "a" * 24}, 13),
        ({"artist": "ada"}, 13),
        ({"album": "FIRST"}, 10),
        ({"fileType": "FLAC"}, 10),
        ({"search": "song 1"}, 10),
        ({"search": "50%"}, 1),
        ({"search": "off_"}, 1),
        ({"search": "odd"}, 1),
        ({"search": "ünï"}, 1),
        ({"search": "ÜNÏCODE"}, 1),
        ({"artist": "Bo", "fileType": "MP3"}, 8),
        ({"search": "nothing like this"}, 0),
        ({"search": "song 2"}, 5),  # "2" begins 20…24, not 02 or 12
        ({"search": "so"}, 25),  # type-ahead: the start of a word
        ({"search": "ong"}, 0),
    ],
)
async def test_filters(
    where: dict[str, str], count: int, seeded: RunningRelay, client: RelayClient
) -> None:
    page = await _page(client, first=100, where=where)
    assert page["totalCount"] == count
    assert len(page["edges"]) == count


async def test_search_by_relevance_over_graphql(seeded: RunningRelay, client: RelayClient) -> None:
    await insert_rows(
        seeded,
        [
            _row(40, title="Nothing", artist="Echo"),
            _row(41, title="Echo Echo", artist="Someone"),
            _row(42, title="Quiet", artist="Ada", album="Echo Chamber"),
        ],
    )
    order = {"field": "RELEVANCE", "direction": "DESC"}
    first = await _page(client, first=2, where={"search": "ech"}, orderBy=order)
    assert first["totalCount"] == 3
    assert _titles(first) == ["Echo Echo", "Nothing"]  # title, then artist, then album
    rest = await _page(
        client,
        first=2,
        where={"search": "ech"},
        orderBy=order,
        after=first["pageInfo"]["endCursor"],
    )
    assert _titles(rest) == ["Quiet"]
    assert rest["pageInfo"]["hasPreviousPage"] and not rest["pageInfo"]["hasNextPage"]
    unsearched = await client.gql(QUERY, {"first": 2, "orderBy": order})
    assert unsearched.codes == ["BAD_USER_INPUT"]
    assert "RELEVANCE needs a search" in unsearched.messages[0]
    mixed = await client.gql(
        QUERY,
        {"first": 2, "where": {"search": "ech"}, "after": first["pageInfo"]["endCursor"]},
    )
    assert mixed.codes == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("variables", "fragment"),
    [
        ({"first": 1, "last": 1}, "either first or last"),
        ({"first": 1000}, "between 0 and 100"),
        ({"first": 1, "after": "bm9wZQ=="}, "invalid pagination cursor"),
    ],
)
async def test_bad_pagination_arguments(
    variables: dict[str, Any], fragment: str, seeded: RunningRelay, client: RelayClient
) -> None:
    result = await client.gql(QUERY, variables)
    assert result.codes == ["BAD_USER_INPUT"]
    assert fragment in result.messages[0]


async def test_cursor_of_another_ordering_is_rejected(
    seeded: RunningRelay, client: RelayClient
) -> None:
    page = await _page(client, first=2)
    result = await client.gql(
        QUERY,
        {"first": 2, "after": page["pageInfo"]["endCursor"], "orderBy": {"field": "TITLE"}},
    )
    assert result.codes == ["BAD_USER_INPUT"]


async def test_node_and_track_lookups_of_unknown_ids(client: RelayClient) -> None:
    result = await client.gql(
        '{ node(id: "VHJhY2s6YXQ6Ly9ub3BlL2FwcC5yZWxheS50cmFjay94") { id } '
        'track(uri: "at://did:plc:x/app.relay.track/y") { id } }'
    )
    assert result.data == {"node": None, "track": None}


async def test_tracks_are_counted_only_when_totalcount_is_asked_for(
    seeded: RunningRelay, client: RelayClient
) -> None:
    def counts(sql: list[str]) -> int:
        return sum("count(" in statement.lower() for statement in sql)

    with statements(seeded) as sql:
        page = (await client.gql("{ tracks(first: 5) { edges { node { title } } } }")).data
    assert len(page["tracks"]["edges"]) == 5
    assert counts(sql) == 0
    assert len(sql) == 1, "a first page is one statement"
    fragment = """
    query { tracks(first: 5) { ...Total } }
    fragment Total on TrackConnection { totalCount }
    """
    with statements(seeded) as sql:
        total = (await client.gql(fragment)).data["tracks"]["totalCount"]
    assert total == 26
    assert counts(sql) == 1
