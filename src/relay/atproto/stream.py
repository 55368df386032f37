"""``com.atproto.sync.subscribeRepos`` frames, decoded once with libipld into typed events.

A frame is two DAG-CBOR objects: a header (``op``, ``t``) and a body. Every field relay uses is
type-checked here, at the edge; anything else about a frame is left alone. A frame that is not
DAG-CBOR, or whose fields have the wrong types, is ``Malformed`` — counted by the consumer, never
half-used. Kinds relay does not follow (``#handle``, ``#tombstone``, new ones) are ``Other``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import libipld


@dataclass(frozen=True, slots=True)
class Op:
    action: str  # create | update | delete
    path: str  # collection/rkey
    cid: bytes | None  # the record's binary CID after the op (None for a delete)
    prev: bytes | None  # sync v1.1: the record's CID before the op (None for a create)


@dataclass(frozen=True, slots=True)
class Commit:
    seq: int
    repo: str
    commit: bytes  # binary CID of the signed commit block
    blocks: bytes  # a CAR slice
    ops: tuple[Op, ...]
    too_big: bool
    prev_data: bytes | None  # sync v1.1: the MST root before this commit
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Identity:
    seq: int
    did: str
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Account:
    seq: int
    did: str
    active: bool
    status: str | None
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Sync:
    seq: int
    did: str
    rev: str | None  # the repo's rev the event describes (unsigned)
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Info:
    name: str
    message: str | None


@dataclass(frozen=True, slots=True)
class Error:
    error: str
    message: str | None


@dataclass(frozen=True, slots=True)
class Other:
    seq: int | None
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str


Event = Commit | Identity | Account | Sync | Info | Error | Other | Malformed


def event_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _text(body: dict[str, Any], key: str, *, limit: int = 8192) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _Bad(f"{key} is not a string")
    return value


def _optional_text(body: dict[str, Any], key: str, *, limit: int = 8192) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad(f"{key} is not a string")
    return value


def _seq(body: dict[str, Any]) -> int:
    seq = body.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _Bad("seq is not a sequence number")
    return seq


def _link(value: object, key: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes) or not value.startswith(b"\x01"):
        raise _Bad(f"{key} is not a CID link")
    return value


class _Bad(Exception):
    pass


def _ops(value: object, max_ops: int) -> tuple[Op, ...]:
    if not isinstance(value, list) or len(value) > max_ops:
        raise _Bad("ops is not a list of at most {max_ops}")
    ops: list[Op] = []
    for item in value:
        if not isinstance(item, dict):
            raise _Bad("an op is not an object")
        action, path = item.get("action"), item.get("path")
        if action not in ("create", "update", "delete"):
            raise _Bad("an op has an unknown action")
        if not isinstance(path, str) or "/" not in path or len(path) > 1024:
            raise _Bad("an op has no record path")
        ops.append(Op(action, path, _link(item.get("cid"), "cid"), _link(item.get("prev"), "prev")))
    return tuple(ops)


def _commit(body: dict[str, Any], max_ops: int) -> Commit:
    commit = _link(body.get("commit"), "commit")
    blocks = body.get("blocks")
    if commit is None or not isinstance(blocks, bytes):
        raise _Bad("a commit without its commit CID or blocks")
    return Commit(
        seq=_seq(body),
        repo=_text(body, "repo", limit=2048),
        commit=commit,
        blocks=blocks,
        ops=_ops(body.get("ops"), max_ops),
        too_big=body.get("tooBig") is True,
        prev_data=_link(body.get("prevData"), "prevData"),
        time=event_time(body.get("time")),
    )


def parse(header: object, body: object, *, max_ops: int = 200) -> Event:
    """The typed event of an already decoded frame."""
    if not isinstance(header, dict) or not isinstance(body, dict):
        return Malformed("not a frame")
    try:
        if header.get("op") == -1:
            return Error(_text(body, "error", limit=256), _optional_text(body, "message"))
        if header.get("op") != 1:
            return Malformed("unknown frame op")
        kind = header.get("t")
        if kind == "#commit":
            return _commit(body, max_ops)
        if kind == "#identity":
            return Identity(
                _seq(body), _text(body, "did", limit=2048), event_time(body.get("time"))
            )
        if kind == "#account":
            active = body.get("active")
            if not isinstance(active, bool):
                raise _Bad("active is not a boolean")
            status = _optional_text(body, "status", limit=64)
            return Account(
                _seq(body), _text(body, "did", limit=2048), active, status,
                event_time(body.get("time")),
            )  # fmt: skip
        if kind == "#sync":
            return Sync(
                _seq(body), _text(body, "did", limit=2048), _optional_text(body, "rev", limit=64),
                event_time(body.get("time")),
            )  # fmt: skip
        if kind == "#info":
            return Info(_text(body, "name", limit=256), _optional_text(body, "message"))
        seq = body.get("seq")
        return Other(
            seq if isinstance(seq, int) and seq >= 0 else None, event_time(body.get("time"))
        )
    except _Bad as exc:
        return Malformed(str(exc))


def decode(raw: bytes) -> tuple[Any, Any]:
    """A frame's header and body, or raises ``ValueError``."""
    try:
        header, body = libipld.decode_dag_cbor_multi(raw)
    except Exception as exc:  # the codec raises several kinds for garbage
        raise ValueError(f"not a DAG-CBOR frame: {exc}") from None
    return header, body


def touches(body: object, prefix: str | tuple[str, ...]) -> bool:
    """Whether a ``#commit`` body may touch records under ``prefix`` — False only when every op
    is well-formed and elsewhere (the firehose's fast path; anything odd takes the full path)."""
    ops = body.get("ops") if isinstance(body, dict) else None
    if not isinstance(ops, list):
        return True
    for op in ops:
        path = op.get("path") if isinstance(op, dict) else None
        if not isinstance(path, str) or path.startswith(prefix):
            return True
    return False
