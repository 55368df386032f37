"""Likes: written by relay into the listener's repo and written directly on the PDS by another
client, both indexed by the one path (firehose, backfill) — counted, shown per viewer, listed, and
kept (shown as MISSING or CHANGED) when the track they point at is gone or edited."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from relay.sandbox import Account, LocalNetwork
from tests.e2e.test_backfill import run_backfill
from tests.e2e.test_firehose import status
from tests.harness.client import RelayClient
from tests.harness.pds import (
    create_record,
    delete_record,
    like_record,
    list_records,
    track_record,
)
from tests.harness.server import RunningRelay
from tests.harness.subscriptions import GraphQLSubscription
from tests.harness.waiting import eventually

LIKE = "mutation($id: ID!) { likeTrack(id: $id) { uri likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikeTrack(id: $id) { uri likeCount viewerHasLiked } }"
TRACK = """
query($u: String!) {
  track(uri: $u) {
    likeCount viewerHasLiked
    likes { edges { node { likerDid subjectStatus liker { handle } } } }
  }
}
"""
LIKES_BY = """
query($d: String!) {
  likes(by: $d) { edges { node { uri subjectUri subjectStatus track { title } } } }
}
"""
UPDATE = "mutation($id: ID!, $t: String!) { updateTrack(id: $id, input: {title: $t}) { cid } }"
DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"
PAGE = "query($d: String!) { tracks(where: {artistDid: $d}) { edges { node { likeCount } } } }"


async def track_of(client: RelayClient, uri: str, token: str | None = None) -> dict[str, Any]:
    track: dict[str, Any] = (await client.gql(TRACK, {"u": uri}, token=token)).data["track"]
    return track


async def test_relay_writes_a_like_once_and_removes_it(
    client: RelayClient,
    alice: str,
    bob: str,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["mp3"], title="Likeable", token=alice)).data[
        "uploadTrack"
    ]
    assert (await track_of(client, track["uri"]))["likeCount"] == 0  # and kept in the cache
    liked = (await client.gql(LIKE, {"id": track["id"]}, token=bob)).data["likeTrack"]
    assert (liked["likeCount"], liked["viewerHasLiked"]) == (1, True)
    # Idempotent: a second like writes no second record.
    await client.gql(LIKE, {"id": track["id"]}, token=bob)
    records = await list_records(network, accounts["bob"], "app.relay.like")
    mine = [r for r in records if r["value"]["subject"]["uri"] == track["uri"]]
    assert len(mine) == 1
    assert mine[0]["value"]["subject"]["cid"] == track["cid"]
    # Each viewer sees their own like; the count is everyone's.
    seen_by_alice = await track_of(client, track["uri"], alice)
    assert (seen_by_alice["likeCount"], seen_by_alice["viewerHasLiked"]) == (1, False)
    anonymous = await track_of(client, track["uri"])
    assert anonymous["likeCount"] == 1 and anonymous["viewerHasLiked"] is False
    assert anonymous["likes"]["edges"] == [
        {"node": {"likerDid": accounts["bob"].did, "subjectStatus": "CURRENT",
                  "liker": {"handle": accounts["bob"].handle}}}
    ]  # fmt: skip
    # A page of tracks counts likes in one statement (each row its own count).
    page = (await client.gql(PAGE, {"d": accounts["alice"].did})).data["tracks"]["edges"]
    assert {"node": {"likeCount": 1}} in page

    unliked = (await client.gql(UNLIKE, {"id": track["id"]}, token=bob)).data["unlikeTrack"]
    assert (unliked["likeCount"], unliked["viewerHasLiked"]) == (0, False)
    records = await list_records(network, accounts["bob"], "app.relay.like")
    assert not [r for r in records if r["value"]["subject"]["uri"] == track["uri"]]
    # Unliking what is not liked changes nothing and is no error.
    again = await client.gql(UNLIKE, {"id": track["id"]}, token=bob)
    assert again.data["unlikeTrack"]["likeCount"] == 0


async def test_a_like_outlives_the_edit_and_the_delete_of_its_track(
    client: RelayClient,
    alice: str,
    bob: str,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["ogg"], title="Before", token=alice)).data[
        "uploadTrack"
    ]
    await client.gql(LIKE, {"id": track["id"]}, token=bob)

    async def status_of_like() -> list[dict[str, Any]]:
        edges = (await client.gql(LIKES_BY, {"d": accounts["bob"].did})).data["likes"]["edges"]
        return [e["node"] for e in edges if e["node"]["subjectUri"] == track["uri"]]

    [like] = await status_of_like()
    assert (like["subjectStatus"], like["track"]) == ("CURRENT", {"title": "Before"})
    await client.gql(UPDATE, {"id": track["id"], "t": "After"}, token=alice)
    [like] = await status_of_like()
    assert (like["subjectStatus"], like["track"]) == ("CHANGED", {"title": "After"})
    await client.gql(DELETE, {"id": track["id"]}, token=alice)
    [like] = await status_of_like()
    assert (like["subjectStatus"], like["track"]) == ("MISSING", None)


async def test_likes_are_refused_without_a_session_or_a_published_track(
    client: RelayClient, alice: str, bob: str, audio_files: dict[str, Path]
) -> None:
    draft = (
        await client.upload(audio_files["mp3"], title="Draft", publish=False, token=alice)
    ).data["uploadTrack"]
    anonymous = await client.gql(LIKE, {"id": draft["id"]})
    assert anonymous.codes == ["UNAUTHENTICATED"]
    own_draft = await client.gql(LIKE, {"id": draft["id"]}, token=alice)
    assert own_draft.codes == ["BAD_USER_INPUT"] and "published" in own_draft.messages[0]
    unseen = await client.gql(LIKE, {"id": draft["id"]}, token=bob)  # another's draft: no such
    assert unseen.codes == ["NOT_FOUND"]
    bad = await client.gql('{ likes(by: "did:plc:x", after: "nope") { edges { cursor } } }')
    assert bad.codes == ["BAD_USER_INPUT"]


async def test_likes_written_on_the_pds_arrive_and_vanish(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    _, client = live
    musician = network.create_account(f"m{secrets.token_hex(3)}.test")
    listener = network.create_account(f"l{secrets.token_hex(3)}.test")
    made = await create_record(network, musician, track_record("Network track"))

    async def indexed() -> bool:
        track = (await client.gql(TRACK, {"u": made["uri"]})).data["track"]
        return track is not None

    await eventually(indexed, what="the network track")
    like = await create_record(
        network, listener, like_record(made["uri"], made["cid"]), collection="app.relay.like"
    )

    async def count_is(n: int) -> bool:
        return bool((await track_of(client, made["uri"]))["likeCount"] == n)

    await eventually(lambda: count_is(1), what="the like from the PDS")
    # A like of a track relay never indexed is kept, shown as missing.
    ghost = f"at://{musician.did}/app.relay.track/3kaaaaaaaaaa2"
    await create_record(
        network, listener, like_record(ghost, made["cid"]), collection="app.relay.like"
    )

    async def ghost_kept() -> bool:
        edges = (await client.gql(LIKES_BY, {"d": listener.did})).data["likes"]["edges"]
        return {"uri": ghost, "status": "MISSING"} in [
            {"uri": e["node"]["subjectUri"], "status": e["node"]["subjectStatus"]} for e in edges
        ]

    await eventually(ghost_kept, what="the like of an unknown track")
    await delete_record(network, listener, like["uri"])
    await eventually(lambda: count_is(0), what="the deleted like to vanish")


async def test_malformed_likes_are_dropped_and_counted(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    _, client = live
    listener = network.create_account(f"p{secrets.token_hex(3)}.test")
    before: dict[str, int] = {d["name"]: d["count"] for d in (await status(client))["dropped"]}
    post = f"at://{listener.did}/app.bsky.feed.post/3kaaaaaaaaaa2"
    cid = (await create_record(network, listener, track_record("Own")))["cid"]
    no_cid: dict[str, object] = {
        "$type": "app.relay.like", "subject": {"uri": post}, "createdAt": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    for bad in (like_record(post, cid), no_cid, like_record("not a uri", cid)):
        await create_record(network, listener, bad, collection="app.relay.like")

    async def counted() -> bool:
        after: dict[str, int] = {d["name"]: d["count"] for d in (await status(client))["dropped"]}
        return (
            after.get("bad_subject", 0) - before.get("bad_subject", 0) >= 1
            and after.get("invalid_record", 0) - before.get("invalid_record", 0) >= 2
        )

    await eventually(counted, what="the malformed likes counted")
    edges = (await client.gql(LIKES_BY, {"d": listener.did})).data["likes"]["edges"]
    assert edges == []


@pytest.mark.parametrize("use_car", [False, True])
async def test_backfill_indexes_likes_and_removes_those_gone(
    admin_relay: RelayClient, network: LocalNetwork, use_car: bool
) -> None:
    admin = admin_relay
    listener = network.create_account(f"b{secrets.token_hex(3)}.test")
    made = await create_record(network, listener, track_record("Self-liked"))
    like = await create_record(
        network, listener, like_record(made["uri"], made["cid"]), collection="app.relay.like"
    )
    report = await run_backfill(admin, dids=[listener.did], useCar=use_car)
    assert (report["created"], report["failed"]) == (2, 0), report
    assert (await track_of(admin, made["uri"]))["likeCount"] == 1
    await delete_record(network, listener, like["uri"])
    report = await run_backfill(admin, dids=[listener.did], useCar=use_car)
    assert report["removed"] == 1, report
    assert (await track_of(admin, made["uri"]))["likeCount"] == 0


POPULAR = """
query($d: String!, $after: String) {
  tracks(first: 1, after: $after, where: {artistDid: $d}, orderBy: {field: POPULAR}) {
    totalCount edges { cursor node { title likeCount } } pageInfo { hasNextPage endCursor }
  }
}
"""


async def test_popular_this_week_puts_the_most_liked_first(
    client: RelayClient,
    alice: str,
    bob: str,
    carol: str,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    await client.upload(audio_files["mp3"], title="Quiet", token=alice)
    loved = (await client.upload(audio_files["ogg"], title="Loved", token=alice)).data[
        "uploadTrack"
    ]
    liked = (await client.upload(audio_files["wav"], title="Liked", token=alice)).data[
        "uploadTrack"
    ]
    for token in (bob, carol):
        await client.gql(LIKE, {"id": loved["id"]}, token=token)
    await client.gql(LIKE, {"id": liked["id"]}, token=bob)
    seen: list[tuple[str, int]] = []
    after = None
    while True:  # one a page: the cursor carries the like count
        page = (await client.gql(POPULAR, {"d": accounts["alice"].did, "after": after})).data
        seen += [(e["node"]["title"], e["node"]["likeCount"]) for e in page["tracks"]["edges"]]
        assert page["tracks"]["totalCount"] == 2  # what this order lists
        if not page["tracks"]["pageInfo"]["hasNextPage"]:
            break
        after = page["tracks"]["pageInfo"]["endCursor"]
    # Tracks liked this week, most listeners first: one nobody liked is not popular.
    assert seen == [("Loved", 2), ("Liked", 1)]


LIKE_EVENTS = "subscription($u: String) { likeEvents(trackUri: $u) { kind likerDid trackUri } }"


async def test_likes_are_announced_to_subscribers(
    relay: RunningRelay,
    client: RelayClient,
    alice: str,
    bob: str,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["mp3"], title="Announced", token=alice)).data[
        "uploadTrack"
    ]
    subscription = await GraphQLSubscription.open(relay.url, LIKE_EVENTS, {"u": track["uri"]})
    try:
        await client.gql(LIKE, {"id": track["id"]}, token=bob)
        event = (await subscription.next())["likeEvents"]
        assert event == {
            "kind": "CREATED",
            "likerDid": accounts["bob"].did,
            "trackUri": track["uri"],
        }
        await client.gql(UNLIKE, {"id": track["id"]}, token=bob)
        assert (await subscription.next())["likeEvents"]["kind"] == "DELETED"
    finally:
        await subscription.close()
