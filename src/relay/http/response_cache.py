"""Answers to anonymous GraphQL queries, kept until the index changes.

A query's answer depends on the document, its variables and operation, what the caller may see —
here only callers without a session (who all see the same: published tracks) — and the index. The
key is the SHA-256 of the normalized document (parsed and printed: spacing and comments do not
matter), the canonical variables and the operation name; an entry is served only while the index
is at the version read before the answer was computed (``IndexVersion``) — for an answer about
named artists only (``cache_scope``), while those artists' tracks are — and never longer than
``max_age`` seconds: an answer can depend on the time as well (POPULAR's window of the last
seven days slides on without a write). Mutations,
subscriptions, answers with errors and documents that do not parse are never kept. A hit costs a
JSON parse of the request, a hash and two lookups — no GraphQL execution, no SQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, print_ast

from relay.db.index_version import Scope
from relay.http.cache_scope import ScopePlan, plan_scope
from relay.lru import BoundedLru


@dataclass(frozen=True)
class Entry:
    version: object
    body: bytes
    etag: str
    kept_at: float  # the cache's clock when it was kept


@dataclass(frozen=True)
class Lookup:
    key: str
    version: object
    hit: Entry | None
    keep: bool = True  # False for a signed-in caller: served from entries, never the source


class ResponseCache:
    def __init__(
        self,
        *,
        entries: int,
        entry_bytes: int,
        total_bytes: int = 64 * 1024 * 1024,
        documents: int = 512,
        document_bytes: int = 8 * 1024 * 1024,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age
        self._clock = clock
        self._max_entries = entries
        self._entry_bytes = entry_bytes
        self._entries: BoundedLru[str, Entry] = BoundedLru(entries=entries, total=total_bytes)
        # Document text → its normalized form and scope plan, or None when it is not a query to
        # keep.
        self._documents: BoundedLru[tuple[str, str | None], _Prepared | None] = BoundedLru(
            entries=documents, total=document_bytes
        )
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._max_entries > 0

    def lookup(
        self,
        request: dict[str, Any],
        version: Callable[[Scope], object],
        *,
        viewer: str | None = None,
    ) -> Lookup | None:
        """The entry for a GraphQL ``request`` (its JSON: query, variables, operationName) while
        the index is at ``version(scope)`` for the request's scope, or None when the request is
        not one to cache.

        A signed-in ``viewer`` (a DID) sees what an anonymous caller sees of every artist but
        themselves (their drafts): their request is served from an entry when its scope names
        only other artists, and what it computes is never kept."""
        document, variables, operation = (
            request.get("query"), request.get("variables") or {}, request.get("operationName")
        )  # fmt: skip
        if not isinstance(document, str) or not isinstance(variables, dict):
            return None
        if operation is not None and not isinstance(operation, str):
            return None
        prepared = self._prepared(document, operation)
        if prepared is None:
            return None
        normalized, plan = prepared
        try:
            canonical = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            return None
        digest = hashlib.sha256(normalized.encode())
        digest.update(b"\0" + canonical + b"\0" + (operation or "").encode())
        key = digest.hexdigest()
        scope = plan.scope(variables)
        if viewer is not None and (scope is None or viewer in scope):
            return None  # about the viewer's own tracks (or possibly): theirs alone
        now = version(scope)
        keep = viewer is None
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.version == now
            and self._clock() - entry.kept_at < self._max_age
        ):
            self.hits += 1
            return Lookup(key, now, entry, keep)
        self.misses += 1
        return Lookup(key, now, None, keep)

    def keep(self, lookup: Lookup, body: bytes) -> Entry | None:
        """Keep an answer computed at ``lookup.version`` (not one with errors, nor a huge one,
        nor one computed for a signed-in caller)."""
        if not lookup.keep or len(body) > self._entry_bytes:
            return None
        answer = orjson.loads(body)
        if not isinstance(answer, dict) or answer.get("errors") or answer.get("data") is None:
            return None
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        entry = Entry(lookup.version, body, etag, self._clock())
        self._entries.put(lookup.key, entry, len(body))
        return entry

    def scope(self, request: dict[str, Any]) -> tuple[bool, Scope]:
        """Whether ``request`` is a query to cache, and which artists its answer is about."""
        document, variables, operation = (
            request.get("query"), request.get("variables") or {}, request.get("operationName")
        )  # fmt: skip
        if not isinstance(document, str) or not isinstance(variables, dict):
            return False, None
        if operation is not None and not isinstance(operation, str):
            return False, None
        prepared = self._prepared(document, operation)
        if prepared is None:
            return False, None
        return True, prepared[1].scope(variables)

    def _prepared(self, document: str, operation: str | None) -> _Prepared | None:
        memo = (document, operation)
        if memo in self._documents:
            return self._documents.get(memo)
        result = _prepare(document, operation)
        self._documents.put(memo, result, len(document) + (len(result[0]) if result else 0))
        return result


_Prepared = tuple[str, ScopePlan]


def _prepare(document: str, operation: str | None) -> _Prepared | None:
    """The printed document and its scope plan when the operation it runs is a query; else
    None."""
    try:
        ast = parse(document, max_tokens=10_000)
    except GraphQLError:
        return None
    operations = [d for d in ast.definitions if isinstance(d, OperationDefinitionNode)]
    chosen: Any = [
        o for o in operations if operation is None or (o.name and o.name.value == operation)
    ]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
        return None
    return print_ast(ast), plan_scope(ast, chosen[0])
