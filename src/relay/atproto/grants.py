"""What lets relay act on a user's PDS: an app-password session or a DPoP-bound OAuth grant.

``PdsAuth`` wraps one session's grant for every request of that session: proactive refresh before
expiry and reactive refresh after the PDS rejects a token both go through one lock, and a refresh
is skipped when another request already replaced the token — so a refresh token is never used twice.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from relay.atproto.dpop import DpopKey
from relay.clock import Clock

REFRESH_MARGIN = timedelta(seconds=60)


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` of a JWT, read without verifying it (the PDS verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class AppPasswordGrant:
    did: str
    handle: str
    pds_url: str
    access_token: str
    refresh_token: str

    def __repr__(self) -> str:  # never print tokens
        return f"AppPasswordGrant(did={self.did!r}, pds_url={self.pds_url!r})"

    def authorize(self, method: str, url: str, nonce: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def expires_soon(self, now: datetime) -> bool:
        expiry = _jwt_expiry(self.access_token)
        return expiry is not None and expiry - now < REFRESH_MARGIN


@dataclass(frozen=True)
class OAuthGrant:
    did: str
    handle: str
    pds_url: str
    issuer: str
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    scope: str
    dpop_key: DpopKey

    def __repr__(self) -> str:
        return f"OAuthGrant(did={self.did!r}, issuer={self.issuer!r}, scope={self.scope!r})"

    def authorize(self, method: str, url: str, nonce: str | None) -> dict[str, str]:
        return {
            "Authorization": f"DPoP {self.access_token}",
            "DPoP": self.dpop_key.proof(method, url, nonce=nonce, access_token=self.access_token),
        }

    def expires_soon(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at - now < REFRESH_MARGIN


Grant = AppPasswordGrant | OAuthGrant
Refresher = Callable[[Grant], Awaitable[Grant]]


class PdsAuth:
    """One session's grant, shared by all its concurrent requests."""

    def __init__(self, grant: Grant, *, refresh: Refresher, clock: Clock) -> None:
        self.grant = grant
        self._refresh = refresh
        self._clock = clock
        self._lock = asyncio.Lock()

    @property
    def did(self) -> str:
        return self.grant.did

    @property
    def pds_url(self) -> str:
        return self.grant.pds_url

    async def fresh(self) -> Grant:
        """The grant, refreshed first if its access token is about to expire."""
        async with self._lock:
            if self.grant.expires_soon(self._clock.now()):
                self.grant = await self._refresh(self.grant)
            return self.grant

    async def after_rejection(self, rejected_access_token: str) -> Grant:
        """The PDS refused ``rejected_access_token``: refresh unless someone already did."""
        async with self._lock:
            if self.grant.access_token == rejected_access_token:
                self.grant = await self._refresh(self.grant)
            return self.grant
