"""Fake: a firehose proxy that forwards a real PDS's stream but tampers with chosen commits.

A real PDS never emits a forged event, so this stands between relay and the PDS: every frame is
passed through untouched, except the next app.relay.track commit of a repo an edit is armed for:

- ``forge``: the records rewritten and the commit re-signed with a stranger's key;
- the envelope edits, which keep the genuine, correctly signed commit and change only what the
  signature does not cover: ``swap_block`` (a record block replaced, with the op's CID, by one with
  another title), ``add_delete(path)`` (a delete op for another of the user's records),
  ``change_path(path)`` (the op moved to another record key), ``change_rev`` (the envelope's rev
  pushed to the far future), ``account_deleted`` (the commit replaced by an unsigned ``#account``
  event saying the account was deleted).

It can also play a slow relay host: ``hold()`` keeps every frame back, in order, until
``let_through(repo)`` lets them go up to that repo's next commit of an ``app.relay.*`` record (a
late echo), or
``resume()`` lets everything go.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

import libipld
import websockets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from relay.atproto.car import read_car
from relay.atproto.commits import unsigned_commit_bytes
from relay.sandbox import free_port


def encode_dag_cbor(value: Any) -> bytes:
    return bytes(libipld.encode_dag_cbor(value))


_K256_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def write_car(root: bytes, blocks: list[tuple[bytes, bytes]]) -> bytes:
    header = encode_dag_cbor({"version": 1, "roots": [root]})
    out = _varint(len(header)) + header
    for cid, block in blocks:
        out += _varint(len(cid) + len(block)) + cid + block
    return out


def _sign_with_wrong_key(data: bytes) -> bytes:
    key = ec.generate_private_key(ec.SECP256K1())
    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    s = min(s, _K256_ORDER - s)  # low-S, as atproto requires
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


FORGED_TITLE = "FORGED BY THE PROXY"


def _cid_of(block: bytes) -> bytes:
    return b"\x01\x71\x12\x20" + hashlib.sha256(block).digest()


def forge(frame: bytes) -> bytes:
    """Rewrite the commit's app.relay.track records (new title, new CIDs) and re-sign the commit
    with a stranger's key."""
    header, body = libipld.decode_dag_cbor_multi(frame)
    _, blocks = read_car(body["blocks"])
    renamed: dict[bytes, bytes] = {}
    rewritten = []
    for cid, block in blocks:
        targets = [op for op in body["ops"] if op.get("cid") == cid]
        if targets and targets[0]["path"].startswith("app.relay.track/"):
            record = libipld.decode_dag_cbor(block)
            record["title"] = FORGED_TITLE
            block = encode_dag_cbor(record)
            renamed[cid] = _cid_of(block)
            cid = renamed[cid]
        rewritten.append((cid, block))
    for op in body["ops"]:
        if op.get("cid") in renamed:
            op["cid"] = renamed[op["cid"]]
    forged_blocks = []
    new_commit_cid = b""
    for cid, block in rewritten:
        if cid == body["commit"]:
            commit = libipld.decode_dag_cbor(block)
            commit["sig"] = _sign_with_wrong_key(unsigned_commit_bytes(commit))
            block = encode_dag_cbor(commit)
            cid = _cid_of(block)
            new_commit_cid = cid
        forged_blocks.append((cid, block))
    body["commit"] = new_commit_cid
    body["blocks"] = write_car(new_commit_cid, forged_blocks)
    return _encode_event(header, body)


def _encode_event(header: dict[str, Any], body: dict[str, Any]) -> bytes:
    """The event re-encoded (libipld writes CIDs, decoded as their bytes, as links again)."""
    return encode_dag_cbor(header) + encode_dag_cbor(body)


def _track_op(body: dict[str, Any]) -> dict[str, Any]:
    return next(op for op in body["ops"] if op["path"].startswith("app.relay.track/"))


Edit = Callable[[bytes], bytes]


def swap_block(frame: bytes) -> bytes:
    header, body = libipld.decode_dag_cbor_multi(frame)
    _, blocks = read_car(body["blocks"])
    op = _track_op(body)
    swapped = []
    for cid, data in blocks:
        if cid == op["cid"]:
            record = libipld.decode_dag_cbor(data)
            record["title"] = FORGED_TITLE
            data = encode_dag_cbor(record)
            cid = _cid_of(data)
            op["cid"] = cid
        swapped.append((cid, data))
    body["blocks"] = write_car(body["commit"], swapped)
    return _encode_event(header, body)


def add_delete(path: str) -> Edit:
    def edit(frame: bytes) -> bytes:
        header, body = libipld.decode_dag_cbor_multi(frame)
        body["ops"].append({"action": "delete", "path": path, "cid": None})
        return _encode_event(header, body)

    return edit


def change_path(path: str) -> Edit:
    def edit(frame: bytes) -> bytes:
        header, body = libipld.decode_dag_cbor_multi(frame)
        _track_op(body)["path"] = path
        return _encode_event(header, body)

    return edit


def omit_op(path: str) -> Edit:
    """The op on ``path`` left out of the envelope (the commit and its blocks unchanged)."""

    def edit(frame: bytes) -> bytes:
        header, body = libipld.decode_dag_cbor_multi(frame)
        body["ops"] = [op for op in body["ops"] if op["path"] != path]
        return _encode_event(header, body)

    return edit


def withhold(frame: bytes) -> bytes:
    """The whole event kept back (nothing is sent)."""
    return b""


def change_rev(frame: bytes) -> bytes:
    header, body = libipld.decode_dag_cbor_multi(frame)
    body["rev"] = "zzzzzzzzzzzzz"
    return _encode_event(header, body)


def account_event(status: str) -> Edit:
    """The commit replaced by an ``#account`` event claiming the account is inactive with
    ``status`` (such events carry no signature)."""

    def edit(frame: bytes) -> bytes:
        _, body = libipld.decode_dag_cbor_multi(frame)
        header = {"op": 1, "t": "#account"}
        event = {
            "seq": body["seq"], "did": body["repo"], "time": body["time"],
            "active": False, "status": status,
        }  # fmt: skip
        return encode_dag_cbor(header) + encode_dag_cbor(event)

    return edit


account_deleted = account_event("deleted")


class FakeForgingFirehose:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.forge_for: set[str] = set()
        self.edits: dict[str, Edit] = {}  # repo → the edit for its next track commit
        self.forged = 0
        self.edited = 0
        self.relay_commits_sent: dict[str, int] = {}  # repo → its app.relay.* commits sent
        self._open = asyncio.Event()  # frames flow while set; kept back, in order, while clear
        self._open.set()
        self._hold_after: str | None = None  # hold again once this repo's such commit is sent
        self._let_through = asyncio.Event()
        self._let_through_seq = 0
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/xrpc"

    async def start(self) -> None:
        self._server = await websockets.serve(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    def hold(self) -> None:
        """Keep every frame from now on back (in order), until let through."""
        self._open.clear()

    async def let_through(self, repo: str) -> int:
        """Send the frames held back up to and including ``repo``'s next commit of an
        ``app.relay.*`` record, then hold again; that commit's ``seq``."""
        self._hold_after = repo
        self._let_through.clear()
        self._open.set()
        await asyncio.wait_for(self._let_through.wait(), 30)
        return self._let_through_seq

    def resume(self) -> None:
        self._hold_after = None
        self._open.set()

    async def _send(self, client: Any, original: bytes, frame: bytes) -> None:
        await self._open.wait()
        await client.send(frame)
        header, body = libipld.decode_dag_cbor_multi(original)
        repo = body.get("repo")
        ops = body.get("ops", []) if header.get("t") == "#commit" else []
        if isinstance(repo, str) and any(op["path"].startswith("app.relay.") for op in ops):
            self.relay_commits_sent[repo] = self.relay_commits_sent.get(repo, 0) + 1
            if repo == self._hold_after:
                self._hold_after = None
                self._open.clear()
                self._let_through_seq = int(body["seq"])
                self._let_through.set()

    def _target(self, frame: bytes) -> str | None:
        """The repo of a track commit an edit is armed for."""
        header, body = libipld.decode_dag_cbor_multi(frame)
        repo = body.get("repo")
        if header.get("t") != "#commit" or (repo not in self.forge_for and repo not in self.edits):
            return None
        ops = body.get("ops", [])
        return repo if any(op["path"].startswith("app.relay.track/") for op in ops) else None

    async def _relay(self, client: Any) -> None:
        path = client.request.path  # /xrpc/com.atproto.sync.subscribeRepos?cursor=…
        upstream_url = self.upstream.rsplit("/xrpc", 1)[0] + path
        async with websockets.connect(upstream_url, max_size=None) as upstream:

            async def pump() -> None:
                async for frame in upstream:
                    original = frame
                    repo = self._target(frame) if isinstance(frame, bytes) else None
                    if repo in self.forge_for:
                        self.forge_for.discard(repo)
                        frame = forge(frame)  # type: ignore[arg-type]
                        self.forged += 1
                    elif repo is not None:
                        frame = self.edits.pop(repo)(frame)  # type: ignore[arg-type]
                        self.edited += 1
                    if frame:
                        await self._send(client, original, frame)  # type: ignore[arg-type]

            # Stop when either side goes away (the client leaving must not wait for upstream).
            pumping = asyncio.create_task(pump())
            leaving = asyncio.create_task(client.wait_closed())
            await asyncio.wait({pumping, leaving}, return_when=asyncio.FIRST_COMPLETED)
            for task in (pumping, leaving):
                task.cancel()
            await asyncio.gather(pumping, leaving, return_exceptions=True)

    async def __aenter__(self) -> FakeForgingFirehose:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await asyncio.sleep(0)
