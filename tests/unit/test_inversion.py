"""Sync v1.1 operation inversion: undoing a commit's ops on its signed tree gives the previous
tree — and leaving an op out, or naming a wrong previous record, does not. The trees are built
canonically (checked against the spec's key layers and empty-tree CID; genuine PDS commits pass
the same check in the firehose tests and the ingest benchmark)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import libipld
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.atproto.inversion import build_tree, check_inversion, key_layer, tree_root
from relay.errors import CommitError


@dataclass(frozen=True)
class Op:
    action: str
    path: str
    cid: bytes | None
    prev: bytes | None


def value(n: int) -> bytes:
    return b"\x01\x71\x12\x20" + hashlib.sha256(b"record %d" % n).digest()


@pytest.mark.parametrize(
    ("key", "layer"),
    [
        ("2653ae71", 0),
        ("blue", 1),
        ("app.bsky.feed.post/454397e440ec", 4),
        ("app.bsky.feed.post/9adeb165882c", 8),
    ],
)
def test_key_layers_are_the_specs(key: str, layer: int) -> None:
    assert key_layer(key.encode()) == layer


def test_the_empty_tree_has_the_specs_cid() -> None:
    root, _ = build_tree({})
    expected = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    assert libipld.encode_cid(root) == expected


KEYS = st.lists(
    st.sampled_from(["app.relay.track", "app.bsky.feed.post", "app.bsky.feed.like"]).flatmap(
        lambda c: st.text("234567abcdefghij", min_size=4, max_size=13).map(lambda r: f"{c}/{r}")
    ),
    min_size=0,
    max_size=60,
    unique=True,
)


@st.composite
def commits(draw: st.DrawFn) -> tuple[dict[bytes, bytes], dict[bytes, bytes], list[Op]]:
    """A tree, the next one, and the ops between them."""
    keys = draw(KEYS)
    split = draw(st.integers(0, len(keys)))
    old = {k.encode(): value(i) for i, k in enumerate(keys[:split])}
    new = dict(old)
    ops: list[Op] = []
    for i, key in enumerate(keys[split:]):
        new[key.encode()] = value(1000 + i)
        ops.append(Op("create", key, new[key.encode()], None))
    for old_key in draw(st.lists(st.sampled_from(sorted(old) or [b"-"]), unique=True, max_size=5)):
        if old_key not in old:
            continue
        if draw(st.booleans()):
            del new[old_key]
            ops.append(Op("delete", old_key.decode(), None, old[old_key]))
        else:
            new[old_key] = value(5000 + len(ops))
            ops.append(Op("update", old_key.decode(), new[old_key], old[old_key]))
    return old, new, ops


@settings(max_examples=150, deadline=None)
@given(commits())
def test_undoing_every_op_gives_the_previous_tree(
    commit: tuple[dict[bytes, bytes], dict[bytes, bytes], list[Op]],
) -> None:
    old, new, ops = commit
    old_root, _ = build_tree(old)
    new_root, blocks = build_tree(new)
    assert tree_root(blocks, new_root) == new_root
    check_inversion(blocks, new_root, old_root, ops)


@settings(max_examples=150, deadline=None)
@given(commits(), st.data())
def test_an_op_left_out_or_misnamed_is_caught(
    commit: tuple[dict[bytes, bytes], dict[bytes, bytes], list[Op]], data: st.DataObject
) -> None:
    old, new, ops = commit
    if not ops:
        return
    old_root, _ = build_tree(old)
    new_root, blocks = build_tree(new)
    at = data.draw(st.integers(0, len(ops) - 1))
    left_out = ops[:at] + ops[at + 1 :]
    with pytest.raises(CommitError) as caught:
        check_inversion(blocks, new_root, old_root, left_out)
    assert caught.value.reason == "unproven"
    op = ops[at]
    wrong = replace(op, prev=value(99_999)) if op.prev else replace(op, cid=value(99_999))
    with pytest.raises(CommitError):
        check_inversion(blocks, new_root, old_root, [*ops[:at], wrong, *ops[at + 1 :]])


@settings(max_examples=100, deadline=None)
@given(commits(), st.data())
def test_a_missing_node_is_unproven_never_a_crash(
    commit: tuple[dict[bytes, bytes], dict[bytes, bytes], list[Op]], data: st.DataObject
) -> None:
    old, new, ops = commit
    old_root, _ = build_tree(old)
    new_root, blocks = build_tree(new)
    missing = data.draw(st.sampled_from(sorted(blocks)))
    partial = {cid: node for cid, node in blocks.items() if cid != missing}
    reason = None
    try:
        check_inversion(partial, new_root, old_root, ops)  # the node may not be on any op's path
    except CommitError as exc:
        reason = exc.reason
    assert reason in (None, "unproven", "malformed")
