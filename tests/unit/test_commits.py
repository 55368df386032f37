"""Commit decoding and checks: canonical DAG-CBOR (against libipld), signatures, MST walks."""

from __future__ import annotations

import hashlib
from typing import Any

import libipld
import pytest
from atproto_core.cid import CID
from atproto_crypto.consts import P256_CURVE_ORDER, SECP256K1_CURVE_ORDER
from atproto_crypto.did import format_did_key
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from relay.atproto.commits import (
    block,
    cid_string,
    mst_lookup,
    signed_state,
    unsigned_commit_bytes,
    verify_commit,
    walk_mst,
)
from relay.errors import CommitError

CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "ES256": (ec.SECP256R1(), P256_CURVE_ORDER),
    "ES256K": (ec.SECP256K1(), SECP256K1_CURVE_ORDER),  # what PDSes sign with
}
REPO = "did:plc:" + "r" * 24


def raw_cid(data: bytes) -> bytes:
    """A CIDv1 (dag-cbor, sha-256) of ``data``, as binary."""
    return b"\x01\x71\x12\x20" + hashlib.sha256(data).digest()


def test_the_signed_bytes_are_the_commit_without_its_signature() -> None:
    commit = {"did": REPO, "version": 3, "data": raw_cid(b"root"), "rev": "3kaaaaaaaaaaa",
              "prev": None, "sig": b"s" * 64}  # fmt: skip
    unsigned = unsigned_commit_bytes(commit)
    assert libipld.decode_dag_cbor(unsigned) == {k: v for k, v in commit.items() if k != "sig"}
    assert b"\xd8\x2a" in unsigned, "data is written as a CID link (tag 42), as it was signed"


class Signer:
    def __init__(self, alg: str = "ES256", *, high_s: bool = False) -> None:
        curve, self._order = CURVES[alg]
        self._high_s = high_s
        self._key = ec.generate_private_key(curve)
        public = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        self.did_key = format_did_key(alg, public)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        s = min(s, self._order - s)  # atproto accepts only low-S signatures
        if self._high_s:
            s = self._order - s  # the same signature's malleable twin
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signed_commit(signer: Signer, **fields: Any) -> dict[str, Any]:
    commit: dict[str, Any] = {
        "did": REPO,
        "version": 3,
        "data": raw_cid(b"root"),
        "rev": "3kaaaaaaaaaaa",
        "prev": None,
        **fields,
    }
    commit["sig"] = signer.sign(unsigned_commit_bytes(commit))
    return commit


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_a_commit_signed_by_the_repos_key_verifies(alg: str) -> None:
    signer = Signer(alg)
    verify_commit(signed_commit(signer), repo=REPO, signing_key=signer.did_key)


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_the_high_s_twin_of_a_valid_signature_is_refused(alg: str) -> None:
    signer = Signer(alg, high_s=True)
    with pytest.raises(CommitError) as caught:
        verify_commit(signed_commit(signer), repo=REPO, signing_key=signer.did_key)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "key", ["did:key:zNotAKey", "did:web:example.com", "did:key:z6Mk" + "a" * 40]
)
def test_an_unreadable_signing_key_is_a_bad_signature(key: str) -> None:
    with pytest.raises(CommitError) as caught:
        verify_commit(signed_commit(Signer()), repo=REPO, signing_key=key)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda c: c | {"rev": "3kzzzzzzzzzzz"}, "bad_signature"),
        (lambda c: c | {"data": raw_cid(b"other root")}, "bad_signature"),
        (lambda c: c | {"sig": b"\x00" * 64}, "bad_signature"),
        (lambda c: c | {"sig": b"short"}, "bad_signature"),
        (lambda c: c | {"did": "did:plc:" + "o" * 24}, "repo_mismatch"),
        (lambda c: {k: v for k, v in c.items() if k != "sig"}, "malformed"),
    ],
)
def test_a_tampered_commit_is_refused_with_its_reason(tamper: Any, reason: str) -> None:
    signer = Signer()
    with pytest.raises(CommitError) as caught:
        verify_commit(tamper(signed_commit(signer)), repo=REPO, signing_key=signer.did_key)
    assert caught.value.reason == reason


@pytest.mark.parametrize("alg", sorted(CURVES))
def test_a_commit_signed_by_another_key_is_refused(alg: str) -> None:
    with pytest.raises(CommitError) as caught:
        verify_commit(signed_commit(Signer(alg)), repo=REPO, signing_key=Signer(alg).did_key)
    assert caught.value.reason == "bad_signature"


def test_a_repo_without_a_signing_key_is_unverifiable() -> None:
    with pytest.raises(CommitError) as caught:
        verify_commit(signed_commit(Signer()), repo=REPO, signing_key=None)
    assert caught.value.reason == "unverifiable"


def _store(blocks: dict[bytes, Any], node: dict[str, Any]) -> bytes:
    data = libipld.encode_dag_cbor(node)
    cid = raw_cid(data)
    blocks[cid] = node
    return cid


def test_walking_an_mst_yields_every_key_under_the_prefix_in_order() -> None:
    blocks: dict[bytes, Any] = {}
    value = raw_cid(b"record")
    leaf = _store(
        blocks,
        {"l": None, "e": [{"p": 0, "k": b"app.relay.track/3kb", "v": value, "t": None}]},
    )
    left = _store(
        blocks, {"l": None, "e": [{"p": 0, "k": b"app.bsky.feed.post/1", "v": value, "t": None}]}
    )
    root = _store(
        blocks,
        {
            "l": left,
            "e": [
                {"p": 0, "k": b"app.relay.track/3ka", "v": value, "t": leaf},
                {"p": 16, "k": b"3kc", "v": value, "t": None},  # shares "app.relay.track/"
            ],
        },
    )
    walked = list(walk_mst(blocks, root, "app.relay.track/"))
    assert [key for key, _ in walked] == [
        "app.relay.track/3ka",
        "app.relay.track/3kb",
        "app.relay.track/3kc",
    ]
    assert {cid for _, cid in walked} == {cid_string(value)}


def test_a_block_missing_from_the_event_is_named() -> None:
    with pytest.raises(CommitError) as caught:
        block({}, raw_cid(b"absent"))
    assert caught.value.reason == "missing_block"


def test_cids_are_read_from_every_form() -> None:
    raw = raw_cid(b"x")
    text = str(CID.decode(raw))
    assert cid_string(raw) == cid_string(CID.decode(raw)) == cid_string(text) == text
    with pytest.raises(CommitError):
        cid_string(12)


def _tree() -> tuple[dict[bytes, Any], bytes, bytes]:
    """A two-layer MST: a root with entries 3kd and 3kh, subtrees left of, between and after."""
    blocks: dict[bytes, Any] = {}
    value, other = raw_cid(b"record"), raw_cid(b"other")

    def leaf(*keys: str) -> bytes:
        entries, last = [], b""
        for key in keys:
            full = f"app.relay.track/{key}".encode()
            shared = next(n for n in range(len(full), -1, -1) if last[:n] == full[:n])
            entries.append({"p": shared, "k": full[shared:], "v": value, "t": None})
            last = full
        return _store(blocks, {"l": None, "e": entries})

    root = _store(
        blocks,
        {
            "l": leaf("3ka", "3kb"),
            "e": [
                {"p": 0, "k": b"app.relay.track/3kd", "v": other, "t": leaf("3kf")},
                {"p": 18, "k": b"h", "v": value, "t": leaf("3kj")},
            ],
        },
    )
    return blocks, root, value


@pytest.mark.parametrize(
    ("key", "found"),
    [
        ("app.relay.track/3ka", "value"),
        ("app.relay.track/3kb", "value"),
        ("app.relay.track/3kd", "other"),
        ("app.relay.track/3kf", "value"),
        ("app.relay.track/3kh", "value"),
        ("app.relay.track/3kj", "value"),
        ("app.relay.track/3kc", None),
        ("app.relay.track/3k", None),
        ("app.relay.track/3kz", None),
        ("app.bsky.feed.post/1", None),
    ],
)
def test_an_mst_lookup_finds_a_key_or_proves_it_absent(key: str, found: str | None) -> None:
    blocks, root, value = _tree()
    expected = {"value": value, "other": raw_cid(b"other"), None: None}
    assert mst_lookup(blocks, root, key) == expected[found]


def test_an_mst_lookup_without_the_path_is_unproven() -> None:
    blocks, root, _ = _tree()
    # Drop the subtree between 3kd and 3kh: a key there can be neither found nor ruled out.
    node = blocks[root]
    del blocks[node["e"][0]["t"]]
    with pytest.raises(CommitError) as caught:
        mst_lookup(blocks, root, "app.relay.track/3kf")
    assert caught.value.reason == "unproven"
    # Keys whose path does not pass there are still answered.
    assert mst_lookup(blocks, root, "app.relay.track/3ka") is not None
    with pytest.raises(CommitError):
        mst_lookup({}, root, "app.relay.track/3ka")


def test_an_mst_that_points_back_at_itself_ends() -> None:
    blocks: dict[bytes, Any] = {}
    value = raw_cid(b"record")
    leaf = _store(blocks, {"l": None, "e": [{"p": 0, "k": b"app.relay.track/3ka", "v": value}]})
    # A node whose right subtree is the leaf and whose left subtree is... the leaf again.
    root = _store(
        blocks,
        {"l": leaf, "e": [{"p": 0, "k": b"app.relay.track/3kb", "v": value, "t": leaf}]},
    )
    with pytest.raises(CommitError, match="cycle"):
        list(walk_mst(blocks, root))


def test_a_deep_mst_is_walked_without_recursion() -> None:
    blocks: dict[bytes, Any] = {}
    value = raw_cid(b"record")
    node = _store(blocks, {"l": None, "e": [{"p": 0, "k": b"app.relay.track/0", "v": value}]})
    for depth in range(1, 3000):
        node = _store(
            blocks,
            {"l": node, "e": [{"p": 0, "k": f"app.relay.track/{depth:05d}".encode(), "v": value}]},
        )
    assert len(list(walk_mst(blocks, node))) == 3000
    with pytest.raises(CommitError, match="more than"):
        list(walk_mst(blocks, node, max_nodes=100))


def test_a_walk_opens_only_subtrees_that_can_hold_the_prefix() -> None:
    blocks: dict[bytes, Any] = {}
    value = raw_cid(b"record")

    def leaf(key: str) -> bytes:
        return _store(blocks, {"l": None, "e": [{"p": 0, "k": key.encode(), "v": value}]})

    profile = leaf("app.bsky.actor.profile/self")  # left of everything the walk wants
    likes = leaf("app.bsky.feed.like/2")  # between two keys of other collections
    tracks = leaf("app.relay.track/3kb")  # between a follow and a track: may hold tracks
    root = _store(
        blocks,
        {
            "l": profile,
            "e": [
                {"p": 0, "k": b"app.bsky.feed.like/1", "v": value, "t": likes},
                {"p": 0, "k": b"app.bsky.graph.follow/1", "v": value, "t": tracks},
                {"p": 0, "k": b"app.relay.track/3kc", "v": value, "t": None},
            ],
        },
    )
    del blocks[profile], blocks[likes]  # opening either would be a missing block
    walked = [key for key, _ in walk_mst(blocks, root, "app.relay.track/")]
    assert walked == ["app.relay.track/3kb", "app.relay.track/3kc"]
    with pytest.raises(CommitError) as caught:
        list(walk_mst(blocks, root))  # everything: the missing subtrees are needed
    assert caught.value.reason == "missing_block"


def test_a_node_with_keys_out_of_order_is_refused() -> None:
    blocks: dict[bytes, Any] = {}
    value = raw_cid(b"record")
    root = _store(
        blocks,
        {
            "l": None,
            "e": [
                {"p": 0, "k": b"app.relay.track/3kc", "v": value},
                {"p": 0, "k": b"app.relay.track/3ka", "v": value},
            ],
        },
    )
    with pytest.raises(CommitError, match="out of order"):
        list(walk_mst(blocks, root, "app.relay.track/"))


@pytest.mark.parametrize(
    "fields",
    [
        {"rev": "not a tid"},
        {"rev": "3k" + "a" * 5000},  # would be kept as the repo's chain: bounded
        {"rev": None},
        {"data": b"\x01" + b"x" * 200},  # no CID relay reads is this long
        {"data": "bafyrei-as-text"},
        {"data": b"\x00\x01abc"},
    ],
)
def test_a_signed_commit_must_name_a_tree_and_a_tid_revision(fields: dict[str, Any]) -> None:
    """Relay keeps a verified commit's root and rev as the repo's chain (in memory and in the
    database): a commit signed by the repo's own key but off the spec is refused, not kept."""
    signer = Signer()
    commit = signed_commit(signer, **fields)
    verify_commit(commit, repo=REPO, signing_key=signer.did_key)  # genuinely signed
    with pytest.raises(CommitError) as caught:
        signed_state(commit, REPO)
    assert caught.value.reason == "malformed"
    assert signed_state(signed_commit(signer), REPO) == (raw_cid(b"root"), "3kaaaaaaaaaaa")
