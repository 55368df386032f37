"""Sync v1.1 operation inversion: a commit's ops, undone on the tree it signed, give the tree
before it (``prevData``) — so the ops an event lists are exactly what the commit changed, none
left out.

The event's blocks hold the nodes of the new tree on each op's path (and the neighbours a removal
merges). They are opened into an ordered run of leaves (key, value CID) and unopened subtrees;
each op is undone on that run (a create removed, an update set back to ``prev``, a delete put back
with ``prev``) and the canonical tree is rebuilt from it: a key's layer is the number of leading
zero bit-pairs of its SHA-256, a node holds the keys of its layer with the layer below between
them. When the rebuilt root is not ``prevData`` — or the undoing needs a node the event does not
carry — the ops are not proven (``CommitError("unproven")``).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import libipld

from relay.errors import CommitError

# CIDv1, dag-cbor, sha2-256 — how every MST node is named.
_CID_PREFIX = bytes([0x01, 0x71, 0x12, 0x20])
MAX_NODES = 10_000  # nodes opened per commit; a firehose commit carries a handful


class InvertibleOp(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def cid(self) -> bytes | None: ...
    @property
    def prev(self) -> bytes | None: ...


def key_layer(key: bytes) -> int:
    """The MST layer of ``key``: leading zero bit-pairs of its SHA-256 (fanout 4)."""
    layer = 0
    for byte in hashlib.sha256(key).digest():
        if byte == 0:
            layer += 4
            continue
        layer += 3 if byte < 0x04 else 2 if byte < 0x10 else 1 if byte < 0x40 else 0
        break
    return layer


@dataclass(slots=True)
class _Leaf:
    key: bytes
    value: bytes
    layer: int


@dataclass(frozen=True, slots=True)
class _Subtree:
    """A subtree the event does not carry: known only by its CID and layer."""

    cid: bytes
    layer: int


_Item = _Leaf | _Subtree


def _unproven(why: str) -> CommitError:
    return CommitError("unproven", f"the ops do not invert to the previous tree: {why}")


Bound = bytes | None  # a key bound of a subtree's range; None: unbounded


def _open(
    blocks: Mapping[Any, Any], root: bytes, keys: Sequence[bytes] | None = None
) -> list[_Item]:
    """The tree under ``root`` as leaves and unopened subtrees, in key order.

    With ``keys`` (sorted), only the nodes whose key range holds or borders one of them are
    opened — the paths the ops change and the edges a removal merges; every other subtree stays
    a ``_Subtree`` (its CID is reused as is, as for a node the event does not carry)."""
    items: list[_Item] = []
    opened: set[bytes] = set()
    # What is left to do, last first: a node to open (with the layer it must have and its key
    # range) or an item.
    stack: list[tuple[bytes, int | None, Bound, Bound] | _Item] = [(root, None, None, None)]
    while stack:
        top = stack.pop()
        if not isinstance(top, tuple):
            items.append(top)
            continue
        cid, layer, low, high = top
        if layer is not None and (not _wanted(keys, low, high) or cid not in blocks):
            items.append(_Subtree(cid, layer))
            continue
        if cid not in blocks:
            raise _unproven("the new tree's root is not in the event")
        if cid in opened or len(opened) >= MAX_NODES:
            raise CommitError("malformed", "the MST holds a cycle or too many nodes")
        opened.add(cid)
        layer, todo = _entries(blocks[cid], layer, low, high)
        stack.extend(reversed(todo))
    return items


def _wanted(keys: Sequence[bytes] | None, low: Bound, high: Bound) -> bool:
    """Whether a subtree ranging from ``low`` to ``high`` (bounds included) holds or borders
    one of ``keys`` (all of them when None)."""
    if keys is None:
        return True
    at = 0 if low is None else bisect_left(keys, low)
    return at < len(keys) and (high is None or keys[at] <= high)


def _entries(
    node: Any, layer: int | None, low: Bound, high: Bound
) -> tuple[int, list[tuple[bytes, int | None, Bound, Bound] | _Item]]:
    """A node's layer and its content in key order: subtrees to open (with their key ranges)
    and leaves. (One pass: a firehose commit opens a few nodes, every one of them this way.)"""
    raw = node.get("e") if isinstance(node, dict) else None
    if not isinstance(raw, list):
        raise CommitError("malformed", "an MST node is not a node")
    todo: list[tuple[bytes, int | None, Bound, Bound] | _Item] = []
    subtree = _optional_link(node.get("l"))  # the subtree before the next leaf
    bound = low
    last = b""
    own = 0
    for at, entry in enumerate(raw):
        try:
            key = last[: entry["p"]] + entry["k"]
            value = entry["v"]
            after = entry.get("t")
        except (KeyError, TypeError, AttributeError):
            raise CommitError("malformed", "an MST entry is not an entry") from None
        if not isinstance(value, bytes) or (at and key <= last):
            raise CommitError("malformed", "an MST entry is out of order or has no value")
        if not at:
            # The node's layer is its keys' layer; a tree is rebuilt only from nodes read
            # against their CIDs, so only its author could have mixed layers in one node.
            own = key_layer(key)
            if layer not in (None, own):
                raise CommitError("malformed", "an MST node on the wrong layer")
            layer = own
        if subtree is not None:
            if not layer:
                raise CommitError("malformed", "an MST node below layer 0")
            todo.append((subtree, layer - 1, bound, key))
        todo.append(_Leaf(key, value, own))
        bound = last = key
        subtree = _optional_link(after)
    if layer is None:
        if subtree is not None:
            raise CommitError("malformed", "an MST root with no entries")
        return 0, []
    if subtree is not None:
        if not layer:
            raise CommitError("malformed", "an MST node below layer 0")
        todo.append((subtree, layer - 1, bound, high))
    return layer, todo


def _optional_link(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise CommitError("malformed", "an MST link is not a CID")
    return value


def _find(items: list[_Item], key: bytes) -> tuple[int, bool]:
    """Where ``key`` is (True) or would go (False) in the run."""
    for at, item in enumerate(items):
        if isinstance(item, _Leaf) and item.key >= key:
            return at, item.key == key
    return len(items), False


def _undo(items: list[_Item], op: InvertibleOp) -> None:
    key = op.path.encode()
    at, present = _find(items, key)
    if op.action in ("create", "update"):
        leaf = items[at] if present else None
        if not isinstance(leaf, _Leaf) or leaf.value != op.cid:
            raise _unproven(f"{op.action} of {op.path} is not in the new tree")
        if op.action == "create":
            if op.prev is not None:
                raise _unproven(f"create of {op.path} names a previous record")
            del items[at]
        elif op.prev is None:
            raise _unproven(f"update of {op.path} does not name the previous record")
        else:
            leaf.value = op.prev
        return
    if present or op.prev is None:
        raise _unproven(f"delete of {op.path} is in the new tree or names no previous record")
    neighbours = items[max(at - 1, 0) : at + 1]
    if any(isinstance(item, _Subtree) for item in neighbours):
        raise _unproven(f"the event does not carry the nodes around {op.path}")
    items.insert(at, _Leaf(key, op.prev, key_layer(key)))


Built = dict[bytes, Any]  # nodes made while rebuilding, by CID (when asked for)


def _cid(node: dict[str, Any], built: Built | None) -> bytes:
    cid = _CID_PREFIX + hashlib.sha256(libipld.encode_dag_cbor(node)).digest()
    if built is not None:
        built[cid] = node
    return cid


def _node(items: Sequence[_Item], layer: int, built: Built | None) -> bytes:
    """The CID of the canonical node at ``layer`` over ``items``."""
    entries: list[dict[str, Any]] = []
    left: bytes | None = None
    gap: list[_Item] = []
    last = b""
    for item in items:
        if isinstance(item, _Subtree) or item.layer < layer:
            gap.append(item)
            continue
        if item.layer > layer:
            raise _unproven("a key above its node's layer")
        subtree = _below(gap, layer - 1, built) if gap else None
        gap = []
        if entries:
            entries[-1]["t"] = subtree
        else:
            left = subtree
        key = item.key
        shared = _shared(last, key)
        entries.append({"k": key[shared:], "p": shared, "t": None, "v": item.value})
        last = key
    subtree = _below(gap, layer - 1, built) if gap else None
    if entries:
        entries[-1]["t"] = subtree
    else:
        left = subtree
    return _cid({"e": entries, "l": left}, built)


def _shared(a: bytes, b: bytes) -> int:
    """The length of the prefix ``a`` and ``b`` share: where their first differing byte is,
    read off the XOR of both as numbers."""
    size = min(len(a), len(b))
    differ = int.from_bytes(a[:size], "big") ^ int.from_bytes(b[:size], "big")
    return size - (differ.bit_length() + 7) // 8


def _below(gap: Sequence[_Item], layer: int, built: Built | None) -> bytes | None:
    """The subtree at ``layer`` over ``gap`` (None when empty)."""
    if not gap:
        return None
    if layer < 0:
        raise _unproven("keys below layer 0")
    highest = max((item.layer for item in gap if isinstance(item, _Subtree)), default=-1)
    if highest > layer:
        raise _unproven("a subtree above its parent's layer")
    if highest == layer:
        if len(gap) == 1 and isinstance(only := gap[0], _Subtree):
            return only.cid
        raise _unproven("two subtrees meet that the event does not carry")
    return _node(gap, layer, built)


def _root(items: list[_Item], built: Built | None = None) -> bytes:
    leaves = [item.layer for item in items if isinstance(item, _Leaf)]
    trees = [item.layer for item in items if isinstance(item, _Subtree)]
    if not items:
        return _cid({"e": [], "l": None}, built)
    if not leaves or max(trees, default=-1) >= max(leaves):
        if len(items) == 1 and isinstance(items[0], _Subtree):
            return items[0].cid
        raise _unproven("the old root lies inside a subtree the event does not carry")
    return _node(items, max(leaves), built)


def build_tree(entries: Mapping[bytes, bytes]) -> tuple[bytes, Built]:
    """The canonical MST of ``entries`` (key → value CID): its root CID and its nodes."""
    built: Built = {}
    leaves: list[_Item] = [_Leaf(key, entries[key], key_layer(key)) for key in sorted(entries)]
    return _root(leaves, built), built


def tree_root(blocks: Mapping[Any, Any], root: bytes) -> bytes:
    """The root CID rebuilt from the opened tree (equal to ``root`` for a canonical tree)."""
    return _root(_open(blocks, root))


def check_inversion(
    blocks: Mapping[Any, Any], data: bytes, prev_data: bytes, ops: Sequence[InvertibleOp]
) -> None:
    """Raise ``CommitError`` unless undoing ``ops`` on the tree at ``data`` gives ``prev_data``."""
    items = _open(blocks, data, sorted({op.path.encode() for op in ops}))
    for op in reversed(ops):
        _undo(items, op)
    if _root(items) != prev_data:
        raise _unproven("the rebuilt previous root differs from prevData")
