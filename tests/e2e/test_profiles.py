"""Artist profiles: each indexed artist's app.bsky.actor.profile (name, description, avatar),
indexed by the same backfill and firehose path — only for repos relay indexes records of — and
the avatar served by relay from the artist's own PDS, checked against the CID the profile names."""

from __future__ import annotations

import io
import secrets
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select

from relay.db.models import ProfileRow
from relay.sandbox import Account, LocalNetwork
from tests.e2e.test_backfill import run_backfill
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, put_record, track_record, upload_blob
from tests.harness.server import RunningRelay
from tests.harness.waiting import eventually

ARTIST = "query($d: String!) { artist(did: $d) { displayName description avatarUrl handle } }"


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return out.getvalue()


async def profile_of(
    network: LocalNetwork, account: Account, name: str, avatar: bytes | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "$type": "app.bsky.actor.profile", "displayName": name,
        "description": f"{name} makes music.",
    }  # fmt: skip
    if avatar is not None:
        record["avatar"] = await upload_blob(network, account, avatar, "image/png")
    return record


async def artist(client: RelayClient, did: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.gql(ARTIST, {"d": did})).data["artist"]
    return found


async def test_backfill_indexes_an_artists_profile_and_serves_the_avatar(
    admin_relay: RelayClient, network: LocalNetwork
) -> None:
    musician = network.create_account(f"pr{secrets.token_hex(3)}.test")
    await create_record(network, musician, track_record("With a face"))
    face = png((200, 30, 90))
    await create_record(
        network, musician, await profile_of(network, musician, "Ada Lovelace", face),
        rkey="self", collection="app.bsky.actor.profile",
    )  # fmt: skip
    report = await run_backfill(admin_relay, dids=[musician.did])
    assert report["failed"] == 0, report
    shown = await artist(admin_relay, musician.did)
    assert (shown["displayName"], shown["description"]) == (
        "Ada Lovelace",
        "Ada Lovelace makes music.",
    )
    assert shown["avatarUrl"] is not None
    async with httpx.AsyncClient() as http:
        served = await http.get(shown["avatarUrl"])
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "image/png"
        assert served.content == face
        assert "immutable" in served.headers["cache-control"]
        # Only the CID the indexed profile names: any other is not relay's to fetch.
        other = (
            shown["avatarUrl"].rsplit("/", 1)[0]
            + "/bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
        )
        assert (await http.get(other)).status_code == 404


async def test_a_profile_change_arrives_live_and_refreshes_a_cached_artist_page(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    relay, client = live
    musician = network.create_account(f"pl{secrets.token_hex(3)}.test")
    await create_record(network, musician, track_record("Live face"))
    uri = f"at://{musician.did}/app.bsky.actor.profile/self"

    async def indexed() -> bool:
        return (await artist(client, musician.did)) is not None

    await eventually(indexed, what="the artist's track")
    async with relay.client() as anonymous:
        assert (await artist(anonymous, musician.did))["displayName"] is None  # now cached
        await create_record(
            network, musician, await profile_of(network, musician, "First Name"),
            rkey="self", collection="app.bsky.actor.profile",
        )  # fmt: skip

        async def named(name: str) -> bool:
            return bool((await artist(anonymous, musician.did))["displayName"] == name)

        await eventually(lambda: named("First Name"), what="the profile from the firehose")
        face = png((20, 120, 200))
        await put_record(
            network, musician, uri, await profile_of(network, musician, "Second", face)
        )
        await eventually(lambda: named("Second"), what="the edited profile")
        # The avatar read from the firehose's blocks (a DAG-CBOR link) is served as named.
        avatar_url = (await artist(anonymous, musician.did))["avatarUrl"]
        async with httpx.AsyncClient() as http:
            served = await http.get(avatar_url)
        assert (served.status_code, served.content) == (200, face)


async def test_a_profile_of_a_repo_relay_does_not_index_is_not_read(
    live: tuple[RunningRelay, RelayClient], network: LocalNetwork
) -> None:
    relay, client = live
    stranger = network.create_account(f"ps{secrets.token_hex(3)}.test")
    await create_record(
        network, stranger, await profile_of(network, stranger, "Nobody here"),
        rkey="self", collection="app.bsky.actor.profile",
    )  # fmt: skip
    # A track of another account after it: once that is indexed, the profile's event is past.
    other = network.create_account(f"pt{secrets.token_hex(3)}.test")
    made = await create_record(network, other, track_record("After the profile"))

    async def indexed() -> bool:
        track = (await client.gql("query($u: String!) { track(uri: $u) { uri } }",
                                  {"u": made["uri"]})).data["track"]  # fmt: skip
        return track is not None

    await eventually(indexed, what="the later track")
    async with relay.database() as db:
        count = await db.scalar(select(func.count()).where(ProfileRow.did == stranger.did))
    assert count == 0
