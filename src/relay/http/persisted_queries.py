"""Automatic persisted queries (Apollo's convention): a client sends the SHA-256 of a document
instead of the document; relay answers ``PersistedQueryNotFound`` the first time, the client sends
both, and from then on the hash alone — a short GET URL a CDN can cache. Documents are kept in an
in-memory LRU bounded in count and bytes, only when their hash matches."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from relay.errors import BadUserInputError, PersistedQueryNotFoundError
from relay.lru import BoundedLru

_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


class PersistedQueries:
    def __init__(self, *, entries: int = 5000, total_bytes: int = 16 * 1024 * 1024) -> None:
        self._documents: BoundedLru[str, str] = BoundedLru(entries=entries, total=total_bytes)

    def resolve(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` (a GraphQL request's JSON) with its document filled in from its persisted
        query hash, or unchanged when it names none. Raises ``PersistedQueryNotFoundError`` for an
        unknown hash and ``BadUserInputError`` for a malformed one or a document that does not
        match it."""
        extensions = request.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return request
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise BadUserInputError("persistedQuery must be {version: 1, sha256Hash}")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise BadUserInputError("persistedQuery.sha256Hash must be 64 lowercase hex digits")
        document = request.get("query")
        if isinstance(document, str):
            if hashlib.sha256(document.encode()).hexdigest() != digest:
                raise BadUserInputError("provided sha does not match query")
            self._documents.put(digest, document, len(document))
            return request
        known = self._documents.get(digest)
        if known is None:
            raise PersistedQueryNotFoundError
        return {**request, "query": known}
