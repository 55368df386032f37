"""Drafts and unfinished or failed publishes are their owner's alone: in every read path
(tracks, track, node, artist, trackEvents) nobody else learns they exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

from relay.db.models import TrackRow
from relay.sandbox import Account
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay
from tests.harness.subscriptions import GraphQLSubscription

READS = """
query($uri: String!, $id: ID!, $did: String!, $handle: String!) {
  track(uri: $uri) { uri publishError record }
  node(id: $id) { id }
  tracks(first: 100, where: {artistDid: $did}) { totalCount edges { node { uri } } }
  drafts: tracks(first: 100, where: {published: false}) { totalCount edges { node { uri } } }
  search: tracks(first: 100, where: {search: "secret demo"}) { totalCount }
  artist(did: $did) { trackCount totalDuration tracks(first: 100) { totalCount } }
  byHandle: artist(handle: $handle) { did }
}
"""
EVENTS = "subscription($did: String!) { trackEvents(where: {artistDid: $did}) { kind uri } }"
PUBLISH = "mutation($id: ID!) { publishTrack(id: $id) { publishState } }"


async def reads(
    client: RelayClient, track: dict[str, Any], account: Account, token: str | None
) -> dict[str, Any]:
    variables = {
        "uri": track["uri"], "id": track["id"], "did": account.did, "handle": account.handle,
    }  # fmt: skip
    result: dict[str, Any] = (await client.gql(READS, variables, token=token)).data
    return result


async def test_a_draft_and_a_failed_track_are_seen_by_their_owner_only(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    bob: str,
    carol: str,
    audio_files: dict[str, Path],
) -> None:
    owner = accounts["carol"]
    draft = (
        await client.upload(audio_files["mp3"], title="Secret demo", publish=False, token=carol)
    ).data["uploadTrack"]
    failed = (
        await client.upload(audio_files["ogg"], title="Secret demo 2", publish=False, token=carol)
    ).data["uploadTrack"]
    async with relay.database() as db:  # as a publish the PDS refused would leave it
        await db.execute(
            update(TrackRow)
            .where(TrackRow.uri == failed["uri"])
            .values(publish_state="FAILED", publish_error="PDS write failed: refused")
        )

    for stranger in (None, bob):  # anonymous, and another signed-in user
        for track in (draft, failed):
            seen = await reads(client, track, owner, stranger)
            assert seen["track"] is None and seen["node"] is None
            assert seen["tracks"] == {"totalCount": 0, "edges": []}
            assert all(
                e["node"]["uri"] not in (draft["uri"], failed["uri"])
                for e in seen["drafts"]["edges"]
            )
            assert seen["search"]["totalCount"] == 0
            assert seen["artist"] is None and seen["byHandle"] is None

    mine = await reads(client, failed, owner, carol)
    assert mine["track"]["publishError"] == "PDS write failed: refused"
    assert mine["track"]["record"]["title"] == "Secret demo 2"
    assert mine["tracks"]["totalCount"] == 2 and mine["drafts"]["totalCount"] == 2
    assert mine["artist"]["trackCount"] == 2 and mine["byHandle"] == {"did": owner.did}

    # Published, it is everyone's.
    await client.gql(PUBLISH, {"id": draft["id"]}, token=carol)
    public = await reads(client, draft, owner, None)
    assert public["track"]["uri"] == draft["uri"] and public["node"] == {"id": draft["id"]}
    assert public["tracks"]["totalCount"] == 1
    assert public["artist"]["trackCount"] == 1


async def test_subscribers_hear_of_a_draft_only_when_it_is_theirs(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    bob: str,
    carol: str,
    audio_files: dict[str, Path],
) -> None:
    owner = accounts["carol"]
    variables = {"did": owner.did}
    anonymous = await GraphQLSubscription.open(relay.url, EVENTS, variables)
    stranger = await GraphQLSubscription.open(relay.url, EVENTS, variables, token=bob)
    own = await GraphQLSubscription.open(relay.url, EVENTS, variables, token=carol)
    try:
        draft = (
            await client.upload(audio_files["wav"], title="Not yet", publish=False, token=carol)
        ).data["uploadTrack"]
        assert (await own.next())["trackEvents"] == {"kind": "CREATED", "uri": draft["uri"]}
        assert await anonymous.quiet(1.0) and await stranger.quiet(0.2)
        await client.gql(PUBLISH, {"id": draft["id"]}, token=carol)
        for listener in (anonymous, stranger, own):
            assert (await listener.next())["trackEvents"] == {
                "kind": "UPDATED",
                "uri": draft["uri"],
            }
    finally:
        for listener in (anonymous, stranger, own):
            await listener.close()


async def test_a_cached_answer_is_served_to_others_but_never_to_the_artist_it_is_about(
    client: RelayClient, accounts: dict[str, Account], bob: str, carol: str,
    audio_files: dict[str, Path],
) -> None:  # fmt: skip
    """The response cache serves a signed-in caller an answer about *other* artists (they see of
    them what anyone sees) and never keeps what it computes for them; an answer about the
    caller's own tracks — where their drafts are — is always computed for them."""
    owner = accounts["carol"]
    await client.upload(audio_files["mp3"], title="Unreleased", publish=False, token=carol)
    query = (
        "query($d: String!) { artist(did: $d) { trackCount tracks(first: 5) "
        "{ edges { node { title } } } } }"
    )

    async def ask(token: str | None) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return await client.http.post(
            "/graphql", json={"query": query, "variables": {"d": owner.did}}, headers=headers
        )

    anonymous = await ask(None)
    assert anonymous.json()["data"]["artist"] is None  # a draft alone: no artist to show
    assert anonymous.headers["x-relay-cache"] == "miss"
    stranger = await ask(bob)
    assert stranger.headers["x-relay-cache"] == "hit"
    assert stranger.content == anonymous.content
    assert stranger.headers.get("cache-control") is None  # a POST: no HTTP caching either way
    for _ in range(2):  # the owner: computed for her each time, and never kept for others
        own = await ask(carol)
        assert "x-relay-cache" not in own.headers
        assert own.json()["data"]["artist"]["trackCount"] == 1
    assert (await ask(None)).content == anonymous.content
