"""CAR files (CARv1) as the firehose and ``sync.getRepo`` send them, with every block proven.

A CAR names each block by a CID, but nothing in the format makes the bytes match it: whoever
relays the file can keep a CID and change the block. ``VerifiedBlocks`` hashes a block's own bytes
when it is first read and refuses it unless they are what its CID says (sha-256, dag-cbor), then
decodes it with libipld. Blocks never read are never hashed — a commit touching one record costs
a handful of hashes, whatever else the CAR carries.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterator, Mapping
from typing import Any

import libipld
from atproto_core.cid import CID

from relay.errors import CommitError

Block = tuple[bytes, bytes]  # (binary CID, the block's bytes)
Buffer = bytes | mmap.mmap  # a CAR in memory, or a file mapped (sync.getRepo, spooled to disk)

# CIDv1, dag-cbor, sha2-256, 32 bytes: the only blocks a repo holds.
_SHA256_DAG_CBOR = bytes([0x01, 0x71, 0x12, 0x20])


def _varint(data: Buffer, at: int) -> tuple[int, int]:
    if at < len(data) and data[at] < 0x80:  # one byte: most of them
        return data[at], at + 1
    value = shift = 0
    while True:
        if at >= len(data) or shift > 56:
            raise CommitError("malformed", "a CAR varint is cut short or too long")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _cid_end(data: Buffer, at: int) -> int:
    """Where the binary CIDv1 starting at ``at`` ends."""
    if data[at : at + len(_SHA256_DAG_CBOR)] == _SHA256_DAG_CBOR:  # what a repo's blocks are
        return at + len(_SHA256_DAG_CBOR) + 32
    for _ in range(3):  # version, codec, multihash code
        _, at = _varint(data, at)
    size, at = _varint(data, at)
    return at + size


def read_car(data: bytes, *, max_blocks: int = 100_000) -> tuple[dict[str, Any], list[Block]]:
    """A CARv1's header and its blocks as (binary CID, bytes), unchecked, in file order."""
    header, spans = _spans(data, max_blocks=max_blocks)
    return header, [(key, data[start:end]) for key, start, end in spans]


def _spans(data: Buffer, *, max_blocks: int) -> tuple[dict[str, Any], list[tuple[bytes, int, int]]]:
    """The header, and each block as (binary CID, start, end) of its bytes in ``data``."""
    size, at = _varint(data, 0)
    try:
        header = libipld.decode_dag_cbor(bytes(data[at : at + size]))
    except Exception as exc:  # the codec raises several kinds for garbage
        raise CommitError("malformed", f"unreadable CAR header: {exc}") from None
    at += size
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CommitError("malformed", "not a CARv1 file")
    spans: list[tuple[bytes, int, int]] = []
    length = len(data)
    while at < length:
        if len(spans) >= max_blocks:
            raise CommitError("too_large", f"the CAR holds more than {max_blocks} blocks")
        size, at = _varint(data, at)
        end = at + size
        cid_end = _cid_end(data, at)
        if size == 0 or end > length or cid_end > end:
            raise CommitError("malformed", "a CAR block is cut short")
        spans.append((bytes(data[at:cid_end]), cid_end, end))
        at = end
    return header, spans


class _Slices(Mapping[bytes, bytes]):
    """A mapped CAR's blocks by binary CID, each read from the file when asked for."""

    def __init__(self, data: Buffer, spans: list[tuple[bytes, int, int]]) -> None:
        self._data = data
        self._where = {key: (start, end) for key, start, end in spans}

    def __getitem__(self, key: bytes) -> bytes:
        start, end = self._where[key]
        return bytes(self._data[start:end])

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def _name(key: bytes) -> str:
    try:
        return str(CID.decode(key))
    except Exception:  # not even a CID
        return key.hex()[:80]


class VerifiedBlocks(Mapping[CID, Any]):
    """A CAR's blocks by CID; reading one checks its hash first (``CommitError`` otherwise)."""

    def __init__(self, roots: list[CID], raw: Mapping[bytes, bytes]) -> None:
        self.roots = roots
        self._raw = raw
        self._decoded: dict[bytes, Any] = {}

    @classmethod
    def from_car(cls, data: bytes, *, max_blocks: int = 100_000) -> VerifiedBlocks:
        header, blocks = read_car(data, max_blocks=max_blocks)
        roots = [CID.decode(root) for root in header.get("roots") or [] if isinstance(root, bytes)]
        return cls(roots, dict(blocks))

    @classmethod
    def from_mapped(cls, data: mmap.mmap, *, max_blocks: int = 100_000) -> VerifiedBlocks:
        """The blocks of a CAR file mapped into memory: only an index of where each block lies
        is kept; a block's bytes are read (and checked) when it is asked for."""
        header, spans = _spans(data, max_blocks=max_blocks)
        roots = [CID.decode(root) for root in header.get("roots") or [] if isinstance(root, bytes)]
        return cls(roots, _Slices(data, spans))

    def _key(self, cid: CID | bytes | str) -> bytes:
        if isinstance(cid, bytes):
            return cid
        try:
            _, raw = libipld.decode_multibase(cid if isinstance(cid, str) else cid.encode())
        except Exception:
            raise CommitError("malformed", f"not a CID: {cid!r:.80}") from None
        return bytes(raw)

    def __getitem__(self, cid: CID | bytes | str) -> Any:
        key = self._key(cid)
        if key in self._decoded:
            return self._decoded[key]
        data = self._raw[key]  # KeyError: not in the CAR
        if len(key) != len(_SHA256_DAG_CBOR) + 32 or not key.startswith(_SHA256_DAG_CBOR):
            raise CommitError("malformed", f"block {_name(key)} is not sha-256 dag-cbor")
        if hashlib.sha256(data).digest() != key[len(_SHA256_DAG_CBOR) :]:
            raise CommitError("bad_block", f"block {_name(key)} does not match its CID")
        try:
            value = libipld.decode_dag_cbor(data)
        except Exception as exc:
            raise CommitError("malformed", f"block {_name(key)} is not DAG-CBOR: {exc}") from None
        self._decoded[key] = value
        return value

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, CID | bytes | str) and self._key(cid) in self._raw

    def __iter__(self) -> Iterator[CID]:
        return (CID.decode(key) for key in self._raw)

    def __len__(self) -> int:
        return len(self._raw)
