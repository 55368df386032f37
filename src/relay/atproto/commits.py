"""Repo commits: signature checks, MST walks and proofs, record extraction.

A commit is trusted only when its signature verifies against the signing key in the repo's DID
document and its ``did`` is the repo the event claims. Records are taken only from the event's own
blocks, by the CIDs its ops name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import libipld
from atproto_core.cid import CID

from relay.atproto.signatures import signed_by
from relay.atproto.tid import is_tid
from relay.errors import CommitError

MAX_CID_BYTES = 128
"""A binary CID longer than this names nothing relay reads (sha-256 CIDs are 36 bytes)."""


def unsigned_commit_bytes(commit: Mapping[str, Any]) -> bytes:
    """The bytes a repo's signature covers: the commit object without ``sig``, as canonical
    DAG-CBOR (libipld; CIDs, decoded as their bytes, are encoded as links again)."""
    return bytes(libipld.encode_dag_cbor({k: v for k, v in commit.items() if k != "sig"}))


def verify_commit(commit: Mapping[str, Any], *, repo: str, signing_key: str | None) -> None:
    """Raise ``CommitError`` unless ``commit`` is signed by ``signing_key`` and belongs to
    ``repo``."""
    if not isinstance(commit, Mapping) or not isinstance(commit.get("sig"), bytes):
        raise CommitError("malformed", "the commit block is missing or unsigned")
    if commit.get("did") != repo:
        raise CommitError("repo_mismatch", f"commit of {commit.get('did')} claimed for {repo}")
    if signing_key is None:
        raise CommitError("unverifiable", f"{repo} has no signing key in its DID document")
    try:
        valid = signed_by(signing_key, unsigned_commit_bytes(commit), commit["sig"])
    except ValueError as exc:
        raise CommitError("bad_signature", f"signature check failed: {exc}") from None
    if not valid:
        raise CommitError("bad_signature", f"commit of {repo} is not signed by its key")


def signed_state(commit: Mapping[str, Any], repo: str) -> tuple[bytes, str]:
    """The tree root (binary CID) and revision a verified commit signs; ``CommitError`` when they
    are not a CID link and a TID — relay compares and keeps both (the chain)."""
    data, rev = commit.get("data"), commit.get("rev")
    if not isinstance(data, bytes) or not data.startswith(b"\x01") or len(data) > MAX_CID_BYTES:
        raise CommitError("malformed", f"the commit of {repo} has no tree root")
    if not isinstance(rev, str) or not is_tid(rev):
        raise CommitError("malformed", f"the commit of {repo} has no revision (a TID)")
    return data, rev


def cid_string(value: Any) -> str:
    if isinstance(value, CID):
        return str(value)
    if isinstance(value, bytes):
        return str(CID.decode(value))
    if isinstance(value, str):
        return value
    raise CommitError("malformed", f"not a CID: {type(value).__name__}")


def block(blocks: Mapping[Any, Any], cid: Any) -> Any:
    """The decoded block ``cid`` (CID object, string or raw bytes) from a CAR's blocks."""
    key = cid if isinstance(cid, CID | bytes) else CID.decode(cid_string(cid))
    try:
        return blocks[key]
    except KeyError:
        raise CommitError("missing_block", f"block {cid_string(key)} is not in the event") from None


def walk_mst(
    blocks: Mapping[Any, Any], root: Any, prefix: str = "", *, max_nodes: int = 1_000_000
) -> Iterator[tuple[str, str]]:
    """(key, value CID) of every entry under ``root``, in key order, whose key starts with
    ``prefix``. Opens only subtrees whose key range can hold such a key (a repo's other
    collections are not read). Iterative (a deep or hostile tree cannot exhaust the stack), each
    node read once (a tree that points back at itself ends with ``CommitError``), at most
    ``max_nodes`` nodes; a node whose keys are not in order is refused."""
    low_end = prefix.encode()
    high_end = _after_prefix(low_end)

    def may_hold(low: bytes | None, high: bytes | None) -> bool:
        # Keys strictly between low and high (None: unbounded) against [prefix, high_end).
        return (high is None or high > low_end) and (
            low is None or high_end is None or low < high_end
        )

    # The stack holds what is left to do, last first: a node to open (with the bounds of its
    # keys), or an entry to yield.
    stack: list[tuple[str, Any]] = [("node", (root, None, None))]
    opened: set[str] = set()
    while stack:
        kind, item = stack.pop()
        if kind == "entry":
            yield item
            continue
        node_cid, low, high = item
        cid = cid_string(node_cid)
        if cid in opened:
            raise CommitError("malformed", "the MST holds a cycle")
        if len(opened) >= max_nodes:
            raise CommitError("too_large", f"the MST has more than {max_nodes} nodes")
        opened.add(cid)
        node = block(blocks, node_cid)
        if not isinstance(node, Mapping) or not isinstance(node.get("e", []), list):
            raise CommitError("malformed", "an MST node is not a node")
        entries: list[tuple[bytes, Any, Any]] = []
        last = b""
        for entry in node.get("e", []):
            try:
                key = last[: entry["p"]] + entry["k"]
            except (KeyError, TypeError):
                raise CommitError("malformed", "an MST entry is not an entry") from None
            if entries and key <= last:
                raise CommitError("malformed", "an MST node's keys are out of order")
            last = key
            entries.append((key, entry["v"], entry.get("t")))
        todo: list[tuple[str, Any]] = []
        first = entries[0][0] if entries else high
        if node.get("l") is not None and may_hold(low, first):
            todo.append(("node", (node["l"], low, first)))
        for index, (key, value, subtree) in enumerate(entries):
            text = key.decode(errors="replace")
            if text.startswith(prefix):
                todo.append(("entry", (text, cid_string(value))))
            following = entries[index + 1][0] if index + 1 < len(entries) else high
            if subtree is not None and may_hold(key, following):
                todo.append(("node", (subtree, key, following)))
        stack.extend(reversed(todo))


def _after_prefix(prefix: bytes) -> bytes | None:
    """The least byte string after every string starting with ``prefix`` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


# An MST path is as deep as the tree's layers (a few for any real repo); more is a hostile tree.
MAX_MST_DEPTH = 64


def mst_lookup(blocks: Mapping[Any, Any], root: Any, key: str) -> bytes | None:
    """The binary value CID the MST rooted at ``root`` holds for ``key``, or None when the tree
    proves the key absent. Reads only the nodes on the key's path — exactly what a commit's blocks
    must carry — and raises ``CommitError("unproven")`` when one of them is not there."""
    target = key.encode()
    node_cid: Any = root
    for _ in range(MAX_MST_DEPTH):
        try:
            node = block(blocks, node_cid)
        except CommitError:
            raise CommitError("unproven", f"the path of {key} is not in the event") from None
        if not isinstance(node, Mapping) or not isinstance(node.get("e", []), list):
            raise CommitError("malformed", "an MST node is not a node")
        subtree = node.get("l")
        last = b""
        for entry in node.get("e", []):
            try:
                entry_key = last[: entry["p"]] + entry["k"]
            except (KeyError, TypeError):
                raise CommitError("malformed", "an MST entry is not an entry") from None
            if entry_key <= last and last:
                raise CommitError("malformed", "MST entries out of order")
            last = entry_key
            if entry_key == target:
                value = entry["v"]
                if not isinstance(value, bytes):
                    raise CommitError("malformed", "an MST entry's value is not a link")
                return value
            if entry_key > target:
                break
            subtree = entry.get("t")
        if subtree is None:
            return None
        node_cid = subtree
    raise CommitError("malformed", "the MST is deeper than any real repo's")
