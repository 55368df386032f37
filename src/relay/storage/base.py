"""The ``AudioStore`` protocol every storage backend implements."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class AudioStore(Protocol):
    """Content-addressed audio objects: keys derive from the bytes, so ``put`` is idempotent."""

    async def put(self, key: str, source: Path, content_type: str) -> bool:
        """Store ``source`` under ``key`` unless it is there already; True if bytes were written."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def sweep(self) -> int:
        """At start: remove what writes cut short by a crash left behind (never an object);
        returns how many pieces went."""
        ...

    async def check(self) -> None:
        """Raise ``StorageUnavailableError`` unless the store can be used now (readiness)."""
        ...

    def public_url(self, key: str) -> str:
        """The URL listeners (and the ``audioUrl`` of records) use to fetch the object."""
        ...
