"""Repo commits: canonical DAG-CBOR, signature checks, MST walks and record extraction.

A commit is trusted only when its signature verifies against the signing key in the repo's DID
document and its ``did`` is the repo the event claims. Records are taken only from the event's own
blocks, by the CIDs its ops name.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from atproto_core.cid import CID
from atproto_crypto.verify import verify_signature

from relay.errors import CommitError


@dataclass(frozen=True)
class CidLink:
    """A CID inside DAG-CBOR (tag 42), as raw binary CID bytes."""

    raw: bytes


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if value < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | info]) + struct.pack(fmt, value)
    raise ValueError("integer too large for CBOR")


def encode_dag_cbor(value: Any) -> bytes:
    """Canonical DAG-CBOR for the data model subset commits and records use."""
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, str):
        data = value.encode()
        return _head(3, len(data)) + data
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, CidLink):
        inner = b"\x00" + value.raw  # the multibase identity prefix DAG-CBOR requires
        return b"\xd8\x2a" + _head(2, len(inner)) + inner
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(encode_dag_cbor(item) for item in value)
    if isinstance(value, Mapping):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        body = b"".join(encode_dag_cbor(k) + encode_dag_cbor(value[k]) for k in keys)
        return _head(5, len(value)) + body
    raise TypeError(f"cannot encode {type(value).__name__} as DAG-CBOR")


def unsigned_commit_bytes(commit: Mapping[str, Any]) -> bytes:
    """The bytes a repo's signature covers: the commit object without ``sig``."""
    unsigned: dict[str, Any] = {}
    for key, value in commit.items():
        if key == "sig":
            continue
        unsigned[key] = CidLink(value) if key in ("data", "prev") and value is not None else value
    return encode_dag_cbor(unsigned)


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
        valid = verify_signature(signing_key, unsigned_commit_bytes(commit), commit["sig"])
    except Exception as exc:  # the crypto library raises several kinds for garbage input
        raise CommitError("bad_signature", f"signature check failed: {exc}") from exc
    if not valid:
        raise CommitError("bad_signature", f"commit of {repo} is not signed by its key")


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
    key = cid if isinstance(cid, CID) else CID.decode(cid_string(cid))
    try:
        return blocks[key]
    except KeyError:
        raise CommitError("missing_block", f"block {key} is not in the event") from None


def walk_mst(
    blocks: Mapping[Any, Any], root: Any, prefix: str = "", *, max_nodes: int = 1_000_000
) -> Iterator[tuple[str, str]]:
    """(key, value CID) of every entry under ``root``, in key order, whose key starts with
    ``prefix``. Iterative (a deep or hostile tree cannot exhaust the stack), each node read once
    (a tree that points back at itself ends with ``CommitError``), at most ``max_nodes`` nodes."""
    # The stack holds what is left to do, last first: a node to open, or an entry to yield.
    stack: list[tuple[str, Any]] = [("node", root)]
    opened: set[str] = set()
    while stack:
        kind, item = stack.pop()
        if kind == "entry":
            yield item
            continue
        cid = cid_string(item)
        if cid in opened:
            raise CommitError("malformed", "the MST holds a cycle")
        if len(opened) >= max_nodes:
            raise CommitError("too_large", f"the MST has more than {max_nodes} nodes")
        opened.add(cid)
        node = block(blocks, item)
        if not isinstance(node, Mapping) or not isinstance(node.get("e", []), list):
            raise CommitError("malformed", "an MST node is not a node")
        todo: list[tuple[str, Any]] = []
        if node.get("l") is not None:
            todo.append(("node", node["l"]))
        last = b""
        for entry in node.get("e", []):
            try:
                key = last[: entry["p"]] + entry["k"]
            except (KeyError, TypeError):
                raise CommitError("malformed", "an MST entry is not an entry") from None
            last = key
            text = key.decode(errors="replace")
            if text.startswith(prefix):
                todo.append(("entry", (text, cid_string(entry["v"]))))
            if entry.get("t") is not None:
                todo.append(("node", entry["t"]))
        stack.extend(reversed(todo))


# An MST path is as deep as the tree's layers (a few for any real repo); more is a hostile tree.
MAX_MST_DEPTH = 64


def mst_lookup(blocks: Mapping[Any, Any], root: Any, key: str) -> str | None:
    """The value CID the MST rooted at ``root`` holds for ``key``, or None when the tree proves
    the key absent. Reads only the nodes on the key's path — exactly what a commit's blocks must
    carry — and raises ``CommitError("unproven")`` when one of them is not there."""
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
                return cid_string(entry["v"])
            if entry_key > target:
                break
            subtree = entry.get("t")
        if subtree is None:
            return None
        node_cid = subtree
    raise CommitError("malformed", "the MST is deeper than any real repo's")
