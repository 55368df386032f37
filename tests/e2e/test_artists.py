"""Query.artist and Track.artistProfile, batched: the number of SQL statements does not grow
with the page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relay.settings import Settings
from tests.harness.catalog import EPOCH, catalog_row, insert_rows
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay
from tests.harness.sql import statements

DIDS = ["did:plc:" + c * 24 for c in "abcde"]
PAGE = """
query($n: Int!) {
  tracks(first: $n) { edges { node { title artist artistProfile { did handle trackCount } } } }
}
"""


@pytest.fixture
def relay_settings(relay_settings: Settings) -> Settings:
    """The publish worker, the audio collector and (on PostgreSQL) event delivery read the DB
    in the background; keep them out of the statement counts."""
    quiet = {
        "publish_worker_interval_seconds": 3600,
        "collector_interval_seconds": 3600,
        "event_poll_seconds": 3600,
    }
    return relay_settings.model_copy(update=quiet)


@pytest.fixture
async def catalog(relay: RunningRelay) -> RunningRelay:
    await insert_rows(
        relay,
        (
            catalog_row(
                DIDS[i % len(DIDS)],
                f"3k{i:011d}",
                title=f"T{i:02d}",
                artist=f"Name {DIDS[i % len(DIDS)][-1]}",
                duration=60 + i,
                created_at=EPOCH + timedelta(minutes=i),
                handle=f"{DIDS[i % len(DIDS)][-1] * 3}.test",
                cid=f"bafy{i}",
            )
            for i in range(20)
        ),
    )
    return relay


async def test_artist_profiles_are_batched(catalog: RunningRelay, client: RelayClient) -> None:
    with statements(catalog) as small:
        two = await client.gql(PAGE, {"n": 2})
    with statements(catalog) as large:
        twenty = await client.gql(PAGE, {"n": 20})
    edges = twenty.data["tracks"]["edges"]
    assert len(edges) == 20
    assert {e["node"]["artistProfile"]["trackCount"] for e in edges} == {4}
    assert len(two.data["tracks"]["edges"]) == 2
    # Page, count, one batched artist query: the same number for 2 tracks as for 20.
    assert len(large) == len(small)
    assert sum("GROUP BY" in s for s in large) == 1


async def test_artist_by_did_or_handle(catalog: RunningRelay, client: RelayClient) -> None:
    query = """
    query($did: String, $handle: String) {
      artist(did: $did, handle: $handle) {
        did handle trackCount totalDuration
        tracks(first: 2, orderBy: {field: TITLE, direction: ASC}) {
          totalCount edges { node { title } }
        }
      }
    }
    """
    by_did = (await client.gql(query, {"did": DIDS[0]})).data["artist"]
    assert by_did["handle"] == "aaa.test"
    assert by_did["trackCount"] == 4
    assert by_did["totalDuration"] == sum(60 + i for i in (0, 5, 10, 15))
    assert by_did["tracks"]["totalCount"] == 4
    assert [e["node"]["title"] for e in by_did["tracks"]["edges"]] == ["T00", "T05"]
    by_handle = (await client.gql(query, {"handle": "@BBB.test"})).data["artist"]
    assert by_handle["did"] == DIDS[1]
    assert (await client.gql(query, {"handle": "nobody.test"})).data["artist"] is None
    both = await client.gql(query, {"did": DIDS[0], "handle": "aaa.test"})
    assert both.codes == ["BAD_USER_INPUT"]
