"""Ops are applied only when the signed commit proves them. A proxy between the real PDS and relay
keeps every genuine, correctly signed commit and edits only the envelope around it — nothing it
writes reaches the index; each tampered event is dropped and counted, and the repo is read again
(backfill), so the honest records still arrive."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.e2e.test_firehose import TRACK, firehose_settings, status, warm_up
from tests.harness.client import RelayClient
from tests.harness.forging_firehose import (
    FORGED_TITLE,
    Edit,
    FakeForgingFirehose,
    account_deleted,
    account_event,
    add_delete,
    change_path,
    change_rev,
    omit_op,
    swap_block,
    withhold,
)
from tests.harness.pds import (
    apply_writes,
    create_record,
    delete_account,
    delete_record,
    like_record,
    put_record,
    set_active,
    track_record,
)
from tests.harness.server import run_relay
from tests.harness.waiting import eventually


@dataclass
class Setup:
    proxy: FakeForgingFirehose
    client: RelayClient
    network: LocalNetwork
    musician: Account

    async def title(self, uri: str) -> str | None:
        row = (await self.client.gql(TRACK, {"u": uri})).data["track"]
        return None if row is None else str(row["title"])

    async def indexed(self, record: dict[str, Any], title: str) -> None:
        async def there() -> bool:
            return await self.title(record["uri"]) == title

        await eventually(there, what=f"{title!r} indexed")

    async def dropped(self, reason: str) -> int:
        counts = {d["name"]: d["count"] for d in (await status(self.client))["dropped"]}
        return int(counts.get(reason, 0))


@pytest.fixture
async def setup(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> AsyncIterator[Setup]:
    async with FakeForgingFirehose(f"ws://localhost:{network.pds_port}/xrpc") as proxy:
        settings = firehose_settings(
            relay_settings, network, accounts["alice"], firehose_url=proxy.url
        )
        async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
            await warm_up(client, network)
            musician = network.create_account(f"p{secrets.token_hex(3)}.test")
            yield Setup(proxy, client, network, musician)


async def no_forged_title(setup: Setup) -> None:
    found = await setup.client.gql(
        "query($s: String!) { tracks(where: {search: $s}) { totalCount } }", {"s": FORGED_TITLE}
    )
    assert found.data["tracks"]["totalCount"] == 0


async def test_a_swapped_record_block_is_not_indexed(setup: Setup) -> None:
    setup.proxy.edits[setup.musician.did] = swap_block
    made = await create_record(setup.network, setup.musician, track_record("Genuine"))
    await eventually(lambda: _at_least(setup, "unproven", 1), what="an unproven drop")
    assert setup.proxy.edited == 1
    # The repo is read again: the genuine record arrives, the swapped one never did.
    await setup.indexed(made, "Genuine")
    await no_forged_title(setup)


@pytest.mark.parametrize(
    "edit",
    [add_delete, change_path],
    ids=["an added delete removes nothing", "a moved op overwrites nothing"],
)
async def test_an_op_aimed_at_another_record_changes_nothing(
    setup: Setup, edit: Callable[[str], Edit]
) -> None:
    kept = await create_record(setup.network, setup.musician, track_record("Keep me"))
    await setup.indexed(kept, "Keep me")
    setup.proxy.edits[setup.musician.did] = edit(kept["uri"].split("/", 3)[3])
    made = await create_record(setup.network, setup.musician, track_record("Next"))
    await eventually(lambda: _at_least(setup, "unproven", 1), what="an unproven drop")
    await setup.indexed(made, "Next")
    assert await setup.title(kept["uri"]) == "Keep me"


async def test_an_op_left_out_of_the_envelope_is_detected(setup: Setup) -> None:
    """Sync v1.1: undoing the listed ops on the signed tree must give the previous tree. A proxy
    that hides a delete (so a removed track would stay listed) fails that check."""
    gone = await create_record(setup.network, setup.musician, track_record("Deleted upstream"))
    await setup.indexed(gone, "Deleted upstream")
    path = gone["uri"].split("/", 3)[3]
    setup.proxy.edits[setup.musician.did] = omit_op(path)
    results = await apply_writes(
        setup.network, setup.musician,
        [
            {"$type": "com.atproto.repo.applyWrites#delete", "collection": "app.relay.track",
             "rkey": path.split("/")[1]},
            {"$type": "com.atproto.repo.applyWrites#create", "collection": "app.relay.track",
             "value": track_record("Made with it")},
        ],
    )  # fmt: skip
    await eventually(lambda: _at_least(setup, "unproven", 1), what="an unproven drop")
    assert setup.proxy.edited == 1
    # The repo is read again: the new track arrives and the deleted one goes.
    await setup.indexed(results[1], "Made with it")

    async def removed() -> bool:
        return await setup.title(gone["uri"]) is None

    await eventually(removed, what="the hidden delete applied by the backfill")


async def test_a_withheld_commit_is_noticed_at_the_next_one(setup: Setup) -> None:
    """The chain: each commit's prevData must be the tree root relay verified last for the repo.
    A stream that holds back a commit (here: a delete) is caught by the one after it."""
    gone = await create_record(setup.network, setup.musician, track_record("Withheld delete"))
    await setup.indexed(gone, "Withheld delete")
    setup.proxy.edits[setup.musician.did] = withhold
    await delete_record(setup.network, setup.musician, gone["uri"])
    made = await create_record(setup.network, setup.musician, track_record("After the gap"))
    await setup.indexed(made, "After the gap")

    async def removed() -> bool:
        return await setup.title(gone["uri"]) is None

    await eventually(removed, what="the withheld delete applied by the backfill")
    assert setup.proxy.edited == 1
    assert (await setup.client.gql("{ syncStatus { gaps } }")).data["syncStatus"]["gaps"] >= 1


async def test_a_commit_withheld_across_a_restart_is_noticed(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    """The chain outlives the process: each repo's last verified commit is stored with the
    cursor, so the first commit relay reads after a restart is still checked against it."""
    async with FakeForgingFirehose(f"ws://localhost:{network.pds_port}/xrpc") as proxy:
        settings = firehose_settings(
            relay_settings, network, accounts["alice"], firehose_url=proxy.url
        )
        musician = network.create_account(f"r{secrets.token_hex(3)}.test")
        async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
            await warm_up(client, network)
            gone = await create_record(network, musician, track_record("Withheld at restart"))
            await Setup(proxy, client, network, musician).indexed(gone, "Withheld at restart")
        # While relay is down the track is deleted; the stream it resumes from holds that back.
        proxy.edits[musician.did] = withhold
        await delete_record(network, musician, gone["uri"])
        made = await create_record(network, musician, track_record("After the restart"))
        async with run_relay(settings) as relay, relay.client(accounts["alice"]) as client:
            setup = Setup(proxy, client, network, musician)
            await setup.indexed(made, "After the restart")

            async def removed() -> bool:
                return await setup.title(gone["uri"]) is None

            await eventually(removed, what="the withheld delete applied by the backfill")
            assert proxy.edited == 1
            gaps = (await client.gql("{ syncStatus { gaps } }")).data["syncStatus"]["gaps"]
            assert gaps >= 1


async def test_the_signed_rev_is_kept_not_the_envelopes(setup: Setup) -> None:
    made = await create_record(setup.network, setup.musician, track_record("One"))
    await setup.indexed(made, "One")
    # The envelope claims a far-future rev; had relay stored it, every later genuine update
    # would look older and be ignored.
    setup.proxy.edits[setup.musician.did] = change_rev
    await put_record(setup.network, setup.musician, made["uri"], track_record("Two"))
    await setup.indexed(made, "Two")
    assert setup.proxy.edited == 1
    await put_record(setup.network, setup.musician, made["uri"], track_record("Three"))
    await setup.indexed(made, "Three")


async def _at_least(setup: Setup, reason: str, count: int) -> bool:
    return await setup.dropped(reason) >= count


async def test_an_account_deletion_is_confirmed_before_tracks_go(setup: Setup) -> None:
    kept = await create_record(setup.network, setup.musician, track_record("Still here"))
    await setup.indexed(kept, "Still here")
    # A forged "#account deleted" for a live account: its PDS still has the repo.
    setup.proxy.edits[setup.musician.did] = account_deleted
    await create_record(setup.network, setup.musician, track_record("Carrier"))
    await eventually(lambda: _at_least(setup, "unconfirmed_deletion", 1), what="a refused deletion")
    assert await setup.title(kept["uri"]) == "Still here"
    # A real deletion on the PDS: confirmed there, and the tracks go.
    await delete_account(setup.network, setup.musician)

    async def gone() -> bool:
        return await setup.title(kept["uri"]) is None

    await eventually(gone, what="the deleted account's tracks removed")


async def test_an_account_deactivation_is_confirmed_before_tracks_hide(setup: Setup) -> None:
    kept = await create_record(setup.network, setup.musician, track_record("Visible"))
    await setup.indexed(kept, "Visible")
    # A forged "#account deactivated" for a live account: its PDS says it is active.
    setup.proxy.edits[setup.musician.did] = account_event("deactivated")
    await create_record(setup.network, setup.musician, track_record("Carrier"))
    await eventually(
        lambda: _at_least(setup, "unconfirmed_account_status", 1), what="a refused status"
    )
    assert await setup.title(kept["uri"]) == "Visible"
    # The account really deactivates: confirmed, hidden; it comes back: shown again.
    await set_active(setup.network, setup.musician, active=False)

    async def hidden() -> bool:
        return await setup.title(kept["uri"]) is None

    await eventually(hidden, what="the deactivated account's tracks hidden")
    await set_active(setup.network, setup.musician, active=True)
    await setup.indexed(kept, "Visible")


async def test_a_like_is_removed_only_by_a_proven_delete(setup: Setup) -> None:
    """Likes take the same path as tracks: a delete op added to a genuine commit is not proven
    by its signed tree, and the like it names stays."""
    song = await create_record(setup.network, setup.musician, track_record("Liked here"))
    await setup.indexed(song, "Liked here")
    like = await create_record(
        setup.network, setup.musician, like_record(song["uri"], song["cid"]),
        collection="app.relay.like",
    )  # fmt: skip
    count = "query($u: String!) { track(uri: $u) { likeCount } }"

    async def likes() -> int:
        return int((await setup.client.gql(count, {"u": song["uri"]})).data["track"]["likeCount"])

    async def liked() -> bool:
        return await likes() == 1

    await eventually(liked, what="the like indexed")
    setup.proxy.edits[setup.musician.did] = add_delete(like["uri"].split("/", 3)[3])
    made = await create_record(setup.network, setup.musician, track_record("Then this"))
    await eventually(lambda: _at_least(setup, "unproven", 1), what="an unproven drop")
    await setup.indexed(made, "Then this")
    assert await likes() == 1


async def test_a_profile_follows_tracks_the_stream_never_carried(setup: Setup) -> None:
    """A repo indexed by other means (here: a backfill, its track's commit kept back from the
    stream) has its profile read from the stream all the same — as `relay dev`'s artist, whose
    uploads relay indexes itself, may be before its firehose is connected."""
    setup.proxy.edits[setup.musician.did] = withhold
    made = await create_record(setup.network, setup.musician, track_record("Not streamed"))
    await setup.client.gql(
        "mutation($d: [String!]!) { backfill(input: {dids: $d}) { runId } }",
        {"d": [setup.musician.did]},
    )
    await setup.indexed(made, "Not streamed")

    async def kept_back() -> bool:
        return setup.proxy.edited == 1

    await eventually(kept_back, what="the track's commit kept back from the stream")
    await create_record(
        setup.network, setup.musician,
        {"$type": "app.bsky.actor.profile", "displayName": "Streamed name"},
        rkey="self", collection="app.bsky.actor.profile",
    )  # fmt: skip
    query = "query($d: String!) { artist(did: $d) { displayName } }"

    async def named() -> bool:
        artist = (await setup.client.gql(query, {"d": setup.musician.did})).data["artist"]
        return bool(artist and artist["displayName"] == "Streamed name")

    await eventually(named, what="the profile from the stream")


TRACK_EDIT = "mutation($id: ID!, $t: String!) { updateTrack(id: $id, input: {title: $t}) { cid } }"
TRACK_DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"
LIST_CREATE = "mutation($i: CreateListInput!) { createList(input: $i) { uri } }"
LIST_RENAME = (
    "mutation($u: String!, $n: String!) { updateList(uri: $u, input: {name: $n}) { cid } }"
)
LIST_GET = "query($u: String!) { list(uri: $u) { name cid } }"


async def _late_echo(
    setup: Setup, older: Callable[[], Awaitable[object]], newer: Callable[[], Awaitable[object]]
) -> None:
    """Once relay's first write has been echoed: hold the stream, let relay make an ``older``
    and a ``newer`` write, and deliver only the echo of the older one — a slow relay host. Back
    once relay has stored its cursor past that echo."""
    did = setup.musician.did

    async def echoed() -> bool:
        return setup.proxy.relay_commits_sent.get(did, 0) >= 1

    await eventually(echoed, what="the echo of relay's first write")
    setup.proxy.hold()
    await older()
    await newer()
    seq = await setup.proxy.let_through(did)

    async def past() -> bool:
        cursors = (await status(setup.client))["cursors"]
        return any(int(c["cursor"] or 0) >= seq for c in cursors)

    await eventually(past, what="relay's cursor past the late echo")


async def _musicians_track(setup: Setup, audio: Path) -> tuple[str, dict[str, Any]]:
    """A session token of the musician, and a track they uploaded (and published) with relay."""
    token = await setup.client.login(setup.musician.handle, setup.musician.password)
    upload = await setup.client.upload(audio, title="One", token=token)
    return token, upload.data["uploadTrack"]


async def test_a_late_echo_of_relays_own_older_write_does_not_undo_a_newer_one(
    setup: Setup, audio_files: dict[str, Path]
) -> None:
    """relay keeps the revision of each commit it makes, so the firehose's echo of an older one,
    arriving after a newer write, is seen to be older. Applied, it put the old title back (or a
    cover just removed, which the next edit then believed gone) until the next echo came."""
    token, track = await _musicians_track(setup, audio_files["mp3"])
    cids: dict[str, str] = {}

    async def edit(title: str) -> None:
        done = await setup.client.gql(TRACK_EDIT, {"id": track["id"], "t": title}, token=token)
        cids[title] = done.data["updateTrack"]["cid"]

    await _late_echo(setup, lambda: edit("Two"), lambda: edit("Three"))
    shown = (await setup.client.gql(TRACK, {"u": track["uri"]})).data["track"]
    assert (shown["title"], shown["cid"]) == ("Three", cids["Three"])
    setup.proxy.resume()


async def test_a_late_echo_does_not_bring_back_a_track_relay_deleted(
    setup: Setup, audio_files: dict[str, Path]
) -> None:
    """The echo of an edit, arriving after relay deleted the track, is older than the delete
    (whose revision relay keeps as a tombstone). Applied, it indexed the deleted track again, as
    a stranger's, until the delete's own echo came."""
    token, track = await _musicians_track(setup, audio_files["mp3"])
    await _late_echo(
        setup,
        lambda: setup.client.gql(TRACK_EDIT, {"id": track["id"], "t": "Two"}, token=token),
        lambda: setup.client.gql(TRACK_DELETE, {"id": track["id"]}, token=token),
    )
    assert (await setup.client.gql(TRACK, {"u": track["uri"]})).data["track"] is None
    setup.proxy.resume()


async def test_a_late_echo_of_an_older_list_write_does_not_undo_a_newer_one(setup: Setup) -> None:
    token = await setup.client.login(setup.musician.handle, setup.musician.password)
    made = await setup.client.gql(
        LIST_CREATE, {"i": {"name": "One", "listType": "playlist"}}, token=token
    )
    uri = made.data["createList"]["uri"]
    cids: dict[str, str] = {}

    async def rename(name: str) -> None:
        done = await setup.client.gql(LIST_RENAME, {"u": uri, "n": name}, token=token)
        cids[name] = done.data["updateList"]["cid"]

    await _late_echo(setup, lambda: rename("Two"), lambda: rename("Three"))
    shown = (await setup.client.gql(LIST_GET, {"u": uri})).data["list"]
    assert (shown["name"], shown["cid"]) == ("Three", cids["Three"])
    setup.proxy.resume()
