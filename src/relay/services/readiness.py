"""Readiness (``/readyz``): can this process serve now? The database is reachable and migrated,
the lexicons relay needs are loaded, and the audio store answers. Liveness stays ``/healthz``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.atproto.lexicon import LexiconCatalog
from relay.db.engine import pending_migrations
from relay.errors import LexiconError, RelayError
from relay.storage.base import AudioStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # name -> "ok" or what is wrong (never internals)

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())


class ReadinessProbe:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        store: AudioStore,
        lexicons: LexiconCatalog,
        required_lexicons: Sequence[str],
        timeout: float,
    ) -> None:
        self._engine = engine
        self._store = store
        self._lexicons = lexicons
        self._required = tuple(required_lexicons)
        self._timeout = timeout

    async def check(self) -> Readiness:
        database, storage = await asyncio.gather(self._database(), self._storage())
        return Readiness(
            {"database": database, "lexicons": self._lexicon_state(), "storage": storage}
        )

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                pending = await pending_migrations(self._engine)
        except (TimeoutError, OSError, SQLAlchemyError) as exc:
            log.warning("readiness: database unreachable: %s", exc.__class__.__name__)
            return "unreachable"
        return "not migrated: run `relay db upgrade`" if pending else "ok"

    def _lexicon_state(self) -> str:
        missing = []
        for nsid in self._required:
            try:
                self._lexicons.schema(nsid)
            except LexiconError:
                missing.append(nsid)
        return f"missing: {', '.join(missing)}" if missing else "ok"

    async def _storage(self) -> str:
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.check()
        except TimeoutError:
            log.warning("readiness: audio store did not answer within %ss", self._timeout)
            return "unreachable"
        except RelayError as exc:
            log.warning("readiness: audio store: %s", exc.message)
            return "unavailable"
        return "ok"
