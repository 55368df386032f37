"""Albums and playlists: written by relay (create, reorder, add, remove, rename, delete — with
swapRecord) and written directly on the PDS by another client, indexed by the one path; items are
strongRefs resolved in a batch, a changed or deleted track shown as such, never dropped."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_backfill import run_backfill
from tests.e2e.test_firehose import status
from tests.harness.client import RelayClient
from tests.harness.pds import (
    create_record,
    delete_record,
    get_record,
    list_records,
    put_record,
    track_record,
)
from tests.harness.server import RunningRelay
from tests.harness.sql import statements
from tests.harness.subscriptions import GraphQLSubscription
from tests.harness.waiting import eventually

LIST_FIELDS = (
    "uri cid name listType description itemCount ownerDid "
    "items { position status trackUri track { title } }"
)
CREATE = f"mutation($i: CreateListInput!) {{ createList(input: $i) {{ {LIST_FIELDS} }} }}"
UPDATE = (
    f"mutation($u: String!, $i: UpdateListInput!) {{ updateList(uri: $u, input: $i) "
    f"{{ {LIST_FIELDS} }} }}"
)
DELETE = "mutation($u: String!) { deleteList(uri: $u) { uri } }"
GET = f"query($u: String!) {{ list(uri: $u) {{ {LIST_FIELDS} }} }}"
LISTS = f"""
query($w: ListFilterInput) {{
  lists(first: 50, where: $w) {{
    edges {{ cursor node {{ {LIST_FIELDS} }} }} pageInfo {{ hasNextPage }}
  }}
}}
"""
EDIT_TRACK = "mutation($id: ID!, $t: String!) { updateTrack(id: $id, input: {title: $t}) { cid } }"
DELETE_TRACK = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"
TRACK_LISTS = "query($u: String!) { track(uri: $u) { lists { edges { node { name } } } } }"
ARTIST_LISTS = (
    'query($d: String!) { artist(did: $d) { lists(listType: "playlist") '
    "{ edges { node { name } } } } }"
)


def titles(found: dict[str, Any]) -> list[str | None]:
    return [item["track"] and item["track"]["title"] for item in found["items"]]


async def upload(client: RelayClient, path: Path, title: str, token: str) -> dict[str, Any]:
    track: dict[str, Any] = (await client.upload(path, title=title, token=token)).data[
        "uploadTrack"
    ]
    return track


async def test_a_playlist_is_made_reordered_edited_and_deleted(
    client: RelayClient,
    alice: str,
    bob: str,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    one = await upload(client, audio_files["mp3"], "One", alice)
    two = await upload(client, audio_files["ogg"], "Two", alice)
    three = await upload(client, audio_files["wav"], "Three", alice)
    theirs = await upload(client, audio_files["flac"], "Bob's", bob)
    made = (
        await client.gql(
            CREATE,
            {
                "i": {
                    "name": "Road trip",
                    "listType": "playlist",
                    "items": [one["id"], theirs["id"]],
                }
            },
            token=alice,
        )
    ).data["createList"]
    assert (made["name"], made["itemCount"], titles(made)) == ("Road trip", 2, ["One", "Bob's"])
    assert [item["status"] for item in made["items"]] == ["CURRENT", "CURRENT"]
    # In alice's repo: the strongRefs in order, each with the CID of the version added.
    record = await get_record(network, made["uri"])
    assert record is not None
    assert record["value"]["items"] == [
        {"uri": one["uri"], "cid": one["cid"]},
        {"uri": theirs["uri"], "cid": theirs["cid"]},
    ]

    # Reorder, add, remove and rename in one edit (swapRecord: the CID relay last saw).
    edited = (
        await client.gql(
            UPDATE,
            {
                "u": made["uri"],
                "i": {
                    "name": "Road trip II",
                    "items": [two["id"], one["id"]],
                    "add": [three["id"]],
                },
            },
            token=alice,
        )
    ).data["updateList"]
    assert (edited["name"], titles(edited)) == ("Road trip II", ["Two", "One", "Three"])
    assert edited["cid"] != made["cid"]
    assert [i["uri"] for i in (await get_record(network, made["uri"]) or {})["value"]["items"]] == [
        two["uri"], one["uri"], three["uri"]
    ]  # fmt: skip
    # Reverse joins: the lists holding a track, an artist's playlists.
    holding = (await client.gql(TRACK_LISTS, {"u": one["uri"]})).data["track"]["lists"]
    assert holding["edges"] == [{"node": {"name": "Road trip II"}}]
    mine = (await client.gql(ARTIST_LISTS, {"d": accounts["alice"].did})).data["artist"]
    assert mine["lists"]["edges"] == [{"node": {"name": "Road trip II"}}]

    # An edited track is shown as CHANGED (the list keeps the version added); a deleted one as
    # MISSING — still in its place.
    await client.gql(EDIT_TRACK, {"id": one["id"], "t": "One (remix)"}, token=alice)
    await client.gql(DELETE_TRACK, {"id": two["id"]}, token=alice)
    shown = (await client.gql(GET, {"u": made["uri"]})).data["list"]
    assert [i["status"] for i in shown["items"]] == ["MISSING", "CHANGED", "CURRENT"]
    assert titles(shown) == [None, "One (remix)", "Three"]

    # Only its owner changes it.
    forbidden = await client.gql(UPDATE, {"u": made["uri"], "i": {"name": "Mine"}}, token=bob)
    assert forbidden.codes == ["FORBIDDEN"]
    # Changed elsewhere meanwhile: the edit is refused, nothing is lost.
    await put_record(network, accounts["alice"], made["uri"], {**record["value"], "name": "Else"})
    conflict = await client.gql(UPDATE, {"u": made["uri"], "i": {"name": "Late"}}, token=alice)
    assert conflict.codes == ["CONFLICT"]
    assert (await get_record(network, made["uri"]) or {})["value"]["name"] == "Else"

    assert (await client.gql(DELETE, {"u": made["uri"]}, token=alice)).data["deleteList"]
    assert await get_record(network, made["uri"]) is None
    assert (await client.gql(GET, {"u": made["uri"]})).data["list"] is None


async def test_bad_lists_are_refused_with_clear_errors(
    client: RelayClient,
    alice: str,
    bob: str,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    theirs = await upload(client, audio_files["mp3"], "Not yours", bob)
    draft = (
        await client.upload(audio_files["ogg"], title="Draft", publish=False, token=alice)
    ).data["uploadTrack"]
    cases = [
        ({"name": "A", "listType": "album", "items": [theirs["id"]]}, "own tracks"),
        ({"name": "A", "listType": "mixtape"}, "listType"),
        ({"name": "  ", "listType": "playlist"}, "name"),
        ({"name": "A", "listType": "playlist", "items": [draft["id"]]}, "not published"),
        ({"name": "x" * 3000, "listType": "playlist"}, "name"),
    ]
    for given, said in cases:
        refused = await client.gql(CREATE, {"i": given}, token=alice)
        assert refused.codes == ["BAD_USER_INPUT"], (given, refused.body)
        assert said in refused.messages[0], refused.messages
    assert (await client.gql(CREATE, {"i": {"name": "A", "listType": "playlist"}})).codes == [
        "UNAUTHENTICATED"
    ]
    assert await list_records(network, accounts["alice"], "app.relay.list") == []


async def test_a_page_of_lists_reads_items_and_tracks_in_one_statement_each(
    relay: RunningRelay, client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    tracks = [await upload(client, audio_files["mp3"], f"Song {i}", alice) for i in range(4)]
    for n in range(3):
        items = [t["id"] for t in tracks[n:]]
        await client.gql(
            CREATE, {"i": {"name": f"Mix {n}", "listType": "playlist", "items": items}}, token=alice
        )
    with statements(relay) as sql:
        page = (await client.gql(LISTS, {"w": {"search": "mix"}})).data["lists"]["edges"]
    assert [len(edge["node"]["items"]) for edge in page] == [2, 3, 4]  # newest first
    # The page, its lists' items, their tracks, and the owner check of nothing else.
    reads = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 3, reads
    # Items come a window at a time (a page at most: what the query cost counts).
    uri = page[-1]["node"]["uri"]
    window = (
        "query($u: String!, $f: Int!, $o: Int!) "
        "{ list(uri: $u) { items(first: $f, offset: $o) { position track { title } } } }"
    )
    part = (await client.gql(window, {"u": uri, "f": 2, "o": 1})).data["list"]["items"]
    assert part == [{"position": 1, "track": {"title": "Song 1"}},
                    {"position": 2, "track": {"title": "Song 2"}}]  # fmt: skip
    too_many = await client.gql(window, {"u": uri, "f": 101, "o": 0})
    assert too_many.codes == ["BAD_USER_INPUT"]


async def test_lists_written_on_the_pds_arrive_and_bad_ones_are_counted(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    _, client = live
    owner = network.create_account(f"o{secrets.token_hex(3)}.test")
    track = await create_record(network, owner, track_record("Their song"))
    ref = {"uri": track["uri"], "cid": track["cid"]}
    ghost = {"uri": f"at://{owner.did}/app.relay.track/3kaaaaaaaaaa2", "cid": track["cid"]}
    before: dict[str, int] = {d["name"]: d["count"] for d in (await status(client))["dropped"]}

    def a_list(name: str, items: list[dict[str, str]]) -> dict[str, object]:
        return {
            "$type": "app.relay.list", "name": name, "listType": "album", "items": items,
            "createdAt": "2026-01-02T03:04:05.000Z",
        }  # fmt: skip

    made = await create_record(
        network, owner, a_list("Their album", [ref, ghost]), collection="app.relay.list"
    )
    for bad in (
        a_list("Too long", [ref] * 501),  # over the lexicon's bound
        a_list("Not tracks", [{**ref, "uri": f"at://{owner.did}/app.bsky.feed.post/3k"}]),
        a_list("No cid", [{"uri": track["uri"]}]),
    ):
        await create_record(network, owner, bad, collection="app.relay.list")

    async def arrived() -> dict[str, Any] | None:
        edges = (await client.gql(LISTS, {"w": {"ownerDid": owner.did}})).data["lists"]["edges"]
        return edges[0]["node"] if edges else None

    shown = await eventually(arrived, what="the list from the PDS")
    assert shown["uri"] == made["uri"] and shown["listType"] == "album"
    assert [i["status"] for i in shown["items"]] == ["CURRENT", "MISSING"]

    async def counted() -> bool:
        after: dict[str, int] = {d["name"]: d["count"] for d in (await status(client))["dropped"]}
        grew = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        return grew.get("invalid_record", 0) >= 2 and grew.get("bad_list_item", 0) >= 1

    await eventually(counted, what="the bad lists counted")
    edges = (await client.gql(LISTS, {"w": {"ownerDid": owner.did}})).data["lists"]["edges"]
    assert [e["node"]["name"] for e in edges] == ["Their album"]

    # Edited by its own client: the index follows.
    await put_record(network, owner, made["uri"], a_list("Their album (deluxe)", [ref]))

    async def edited() -> bool:
        found = (await client.gql(GET, {"u": made["uri"]})).data["list"]
        return bool(found and found["name"] == "Their album (deluxe)" and found["itemCount"] == 1)

    await eventually(edited, what="the edited list")
    await delete_record(network, owner, made["uri"])

    async def gone() -> bool:
        return (await client.gql(GET, {"u": made["uri"]})).data["list"] is None

    await eventually(gone, what="the deleted list to vanish")


async def test_backfill_indexes_lists(
    admin_relay: RelayClient, network: LocalNetwork, relay_settings: Settings
) -> None:
    owner = network.create_account(f"q{secrets.token_hex(3)}.test")
    track = await create_record(network, owner, track_record("Backfilled"))
    await create_record(
        network, owner,
        {"$type": "app.relay.list", "name": "Old playlist", "listType": "playlist",
         "items": [{"uri": track["uri"], "cid": track["cid"]}],
         "createdAt": "2026-01-02T03:04:05.000Z"},
        collection="app.relay.list",
    )  # fmt: skip
    report = await run_backfill(admin_relay, dids=[owner.did])
    assert (report["created"], report["failed"]) == (2, 0), report
    edges = (await admin_relay.gql(LISTS, {"w": {"ownerDid": owner.did}})).data["lists"]["edges"]
    assert [(e["node"]["name"], titles(e["node"])) for e in edges] == [
        ("Old playlist", ["Backfilled"])
    ]


LIST_EVENTS = "subscription($d: String) { listEvents(ownerDid: $d) { kind uri ownerDid } }"


async def test_list_changes_are_announced_to_subscribers(
    relay: RunningRelay, client: RelayClient, alice: str, accounts: dict[str, Account]
) -> None:
    did = accounts["alice"].did
    subscription = await GraphQLSubscription.open(relay.url, LIST_EVENTS, {"d": did})
    try:
        made = (
            await client.gql(CREATE, {"i": {"name": "Live", "listType": "playlist"}}, token=alice)
        ).data["createList"]
        assert (await subscription.next())["listEvents"] == {
            "kind": "CREATED", "uri": made["uri"], "ownerDid": did
        }  # fmt: skip
        await client.gql(UPDATE, {"u": made["uri"], "i": {"name": "Live 2"}}, token=alice)
        assert (await subscription.next())["listEvents"]["kind"] == "UPDATED"
        await client.gql(DELETE, {"u": made["uri"]}, token=alice)
        assert (await subscription.next())["listEvents"]["kind"] == "DELETED"
    finally:
        await subscription.close()
