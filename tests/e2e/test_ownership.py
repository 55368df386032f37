"""Only a track's owner may publish, update or delete it; queries need no login."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relay.sandbox import Account, LocalNetwork
from tests.harness.client import RelayClient
from tests.harness.pds import get_record

PUBLISH = "mutation($id: ID!) { publishTrack(id: $id) { publishState } }"
UPDATE = 'mutation($id: ID!) { updateTrack(id: $id, input: {title: "Mine now"}) { title } }'
DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"
TRACK = "query($u: String!) { track(uri: $u) { title publishState cid } }"


@pytest.mark.parametrize("mutation", [PUBLISH, UPDATE, DELETE])
async def test_others_are_forbidden_and_nothing_changes(
    mutation: str,
    client: RelayClient,
    alice: str,
    bob: str,
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    track = (await client.upload(audio_files["mp3"], title="Alice's", token=alice)).data[
        "uploadTrack"
    ]
    before = (await client.gql(TRACK, {"u": track["uri"]})).data["track"]
    record_before = await get_record(network, track["uri"])

    result = await client.gql(mutation, {"id": track["id"]}, token=bob)
    assert result.codes == ["FORBIDDEN"]

    assert (await client.gql(TRACK, {"u": track["uri"]})).data["track"] == before
    assert await get_record(network, track["uri"]) == record_before


@pytest.mark.parametrize("mutation", [PUBLISH, UPDATE, DELETE, "mutation { logout }"])
async def test_anonymous_mutations_are_unauthenticated(
    mutation: str, client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["mp3"], token=alice)).data["uploadTrack"]
    result = await client.gql(mutation, {"id": track["id"]} if "$id" in mutation else {})
    assert result.codes == ["UNAUTHENTICATED"]


async def test_queries_need_no_login(
    client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    await client.upload(audio_files["mp3"], token=alice)
    result = await client.gql("{ tracks { totalCount edges { node { title } } } viewer { did } }")
    assert result.data["tracks"]["totalCount"] == 1
    assert result.data["viewer"] is None


async def test_login_by_handle_or_did_and_logout(
    client: RelayClient, accounts: dict[str, Account], network: LocalNetwork
) -> None:
    carol = accounts["carol"]
    for identifier in (carol.handle, carol.did, f"@{carol.handle.upper()}"):
        result = await client.gql(
            "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) "
            "{ token viewer { did handle pdsUrl } } }",
            {"i": identifier, "p": carol.password},
        )
        payload: dict[str, Any] = result.data["login"]
        assert payload["viewer"] == {
            "did": carol.did,
            "handle": carol.handle,
            "pdsUrl": network.pds_url,
        }
        token = payload["token"]
        viewer = await client.gql("{ viewer { did } }", token=token)
        assert viewer.data["viewer"] == {"did": carol.did}

    assert (await client.gql("mutation { logout }", token=token)).data["logout"] is True
    after = await client.gql("mutation { logout }", token=token)
    assert after.codes == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("identifier", "password", "code"),
    [
        ("alice.test", "wrong-password", "UNAUTHENTICATED"),
        ("nobody.test", "x", "BAD_USER_INPUT"),
        ("not a handle", "x", "BAD_USER_INPUT"),
        ("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "x", "BAD_USER_INPUT"),
        ("", "x", "BAD_USER_INPUT"),
    ],
)
async def test_login_failures_are_clear(
    identifier: str, password: str, code: str, client: RelayClient
) -> None:
    result = await client.gql(
        "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }",
        {"i": identifier, "p": password},
    )
    assert result.codes == [code], result.body
