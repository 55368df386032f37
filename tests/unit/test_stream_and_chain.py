"""Firehose frames parsed into typed events (bad fields are Malformed, never half-used), the fast
path's test, and the per-repo chain of verified commits."""

from __future__ import annotations

from typing import Any

import libipld
import pytest

from relay.atproto import stream
from relay.services.repo_chain import RepoChain

CID = b"\x01\x71\x12\x20" + b"\x11" * 32
OTHER_CID = b"\x01\x71\x12\x20" + b"\x22" * 32


def commit_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "seq": 7, "repo": "did:plc:abc", "commit": CID, "blocks": b"car", "rev": "3kaaaaaaaaaaa",
        "ops": [{"action": "create", "path": "app.relay.track/3kbbbbbbbbbbb", "cid": CID}],
        "prevData": OTHER_CID, "tooBig": False, "time": "2026-01-02T03:04:05.000Z",
    }  # fmt: skip
    return body | fields


def test_a_commit_frame_becomes_a_typed_commit() -> None:
    frame = libipld.encode_dag_cbor({"op": 1, "t": "#commit"}) + libipld.encode_dag_cbor(
        commit_body()
    )
    event = stream.parse(*stream.decode(frame))
    assert isinstance(event, stream.Commit)
    assert (event.seq, event.repo, event.prev_data) == (7, "did:plc:abc", OTHER_CID)
    assert event.ops == (stream.Op("create", "app.relay.track/3kbbbbbbbbbbb", CID, None),)
    assert event.time is not None and event.time.year == 2026


@pytest.mark.parametrize(
    "fields",
    [
        {"seq": "7"},
        {"seq": -1},
        {"repo": 5},
        {"commit": "bafy…"},
        {"blocks": None},
        {"ops": "all of them"},
        {"ops": [{"action": "rename", "path": "a/b", "cid": CID}]},
        {"ops": [{"action": "create", "path": "no-slash", "cid": CID}]},
        {"ops": [{"action": "create", "path": "a/b", "cid": "not a link"}]},
        {"ops": [{"action": "create", "path": "a/b", "cid": CID}] * 201},
        {"prevData": b"\x00notacid"},
    ],
)
def test_a_commit_with_a_wrong_field_is_malformed(fields: dict[str, Any]) -> None:
    event = stream.parse({"op": 1, "t": "#commit"}, commit_body(**fields))
    assert isinstance(event, stream.Malformed)


@pytest.mark.parametrize(
    ("header", "body", "kind"),
    [
        ({"op": 1, "t": "#identity"}, {"seq": 1, "did": "did:plc:a"}, stream.Identity),
        ({"op": 1, "t": "#account"}, {"seq": 1, "did": "did:a", "active": True}, stream.Account),
        ({"op": 1, "t": "#account"}, {"seq": 1, "did": "did:a", "active": "y"}, stream.Malformed),
        ({"op": 1, "t": "#sync"}, {"seq": 1, "did": "did:plc:a", "rev": "3k"}, stream.Sync),
        ({"op": 1, "t": "#info"}, {"name": "OutdatedCursor"}, stream.Info),
        ({"op": -1}, {"error": "FutureCursor", "message": "no"}, stream.Error),
        ({"op": 1, "t": "#labels"}, {"seq": 3}, stream.Other),
        ({"op": 2}, {}, stream.Malformed),
        ([], {}, stream.Malformed),
    ],
)  # fmt: skip
def test_each_frame_kind_is_typed(header: Any, body: Any, kind: type) -> None:
    assert isinstance(stream.parse(header, body), kind)


def test_garbage_is_not_a_frame() -> None:
    with pytest.raises(ValueError, match="DAG-CBOR"):
        stream.decode(b"\xff\x00garbage")


@pytest.mark.parametrize(
    ("ops", "touches"),
    [
        ([{"path": "app.bsky.feed.post/1"}, {"path": "app.bsky.feed.like/2"}], False),
        ([{"path": "app.bsky.feed.post/1"}, {"path": "app.relay.track/2"}], True),
        ([{"path": 5}], True),  # odd: the full path names what is wrong
        ("nope", True),
    ],
)
def test_the_fast_path_passes_over_only_what_touches_no_track(ops: Any, touches: bool) -> None:
    assert stream.touches({"ops": ops}, "app.relay.track/") is touches


def test_the_chain_checks_prev_data_against_the_last_verified_root() -> None:
    chain = RepoChain()
    assert chain.follows("did:a", "3k2", OTHER_CID) is None  # nothing to check against yet
    chain.advance("did:a", "3k2", CID)
    assert chain.follows("did:a", "3k3", CID) is True
    assert chain.follows("did:a", "3k3", OTHER_CID) is False  # a commit in between was missed
    assert chain.follows("did:a", "3k3", None) is None  # no prevData: nothing to check
    assert chain.follows("did:a", "3k1", OTHER_CID) is None  # a replay checks nothing
    chain.advance("did:a", "3k1", OTHER_CID)  # ... and moves nothing
    assert chain.last("did:a") is not None and chain.last("did:a").data == CID  # type: ignore[union-attr]
    assert chain.stale("did:a", "3k2") and not chain.stale("did:a", "3k4")
    assert not chain.stale("did:b", "3k1") and not chain.stale("did:a", None)


def test_the_chain_is_bounded() -> None:
    chain = RepoChain(max_repos=2)
    for did in ("did:a", "did:b", "did:c"):
        chain.advance(did, "3k1", CID)
    assert len(chain) == 2 and chain.last("did:a") is None
