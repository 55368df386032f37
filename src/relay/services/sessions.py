"""Relay sessions: login with an app password, bearer-token lookup, logout, PDS credentials.

The bearer token is random and returned once; only its SHA-256 is stored. The PDS tokens behind a
session are refreshed by the PDS client and written back here (``PdsAuth.on_refresh``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from relay.atproto.identity import IdentityResolver
from relay.atproto.pds import OnRefresh, PdsClient, PdsCredentials
from relay.clock import Clock
from relay.db.models import SessionRow
from relay.db.sessions import SessionStore
from relay.errors import BadUserInputError, UnauthenticatedError

APP_PASSWORD = "app-password"  # noqa: S105 - the auth kind, not a secret


@dataclass(frozen=True)
class Viewer:
    """The authenticated caller."""

    session_id: int
    did: str
    handle: str
    pds_url: str


@dataclass(frozen=True)
class PdsAuth:
    """What a PDS write needs: credentials and where refreshed tokens go."""

    credentials: PdsCredentials
    on_refresh: OnRefresh


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _viewer(row: SessionRow) -> Viewer:
    return Viewer(session_id=row.id, did=row.did, handle=row.handle, pds_url=row.pds_url)


class SessionService:
    def __init__(
        self,
        *,
        store: SessionStore,
        identity: IdentityResolver,
        pds: PdsClient,
        clock: Clock,
        ttl: timedelta,
    ) -> None:
        self._store = store
        self._identity = identity
        self._pds = pds
        self._clock = clock
        self._ttl = ttl

    async def login(self, identifier: str, password: str) -> tuple[str, Viewer]:
        """Sign in at the identity's own PDS; return the new bearer token and the viewer."""
        if not identifier.strip() or not password:
            raise BadUserInputError("identifier and password are required")
        identity = await self._identity.resolve(identifier.strip())
        credentials = await self._pds.create_session(identity.pds_url, identity.did, password)
        if credentials.did != identity.did:
            # A PDS answering for another account than the one resolved is not to be trusted.
            raise UnauthenticatedError("the PDS signed in a different account than requested")
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        row = await self._store.insert(
            SessionRow(
                token_hash=hash_token(token),
                did=credentials.did,
                handle=identity.handle or credentials.handle,
                pds_url=identity.pds_url,
                auth_kind=APP_PASSWORD,
                access_token=credentials.access_jwt,
                refresh_token=credentials.refresh_jwt,
                created_at=now,
                expires_at=now + self._ttl,
            )
        )
        return token, _viewer(row)

    async def authenticate(self, token: str) -> Viewer:
        row = await self._store.by_token_hash(hash_token(token), self._clock.now())
        if row is None:
            raise UnauthenticatedError("the session token is invalid or has expired")
        return _viewer(row)

    async def logout(self, viewer: Viewer) -> None:
        row = await self._store.get(viewer.session_id)
        if row is not None:
            await self._pds.delete_session(self._credentials(row))
        await self._store.delete(viewer.session_id)

    async def auth_for_viewer(self, viewer: Viewer) -> PdsAuth:
        row = await self._store.get(viewer.session_id)
        if row is None:
            raise UnauthenticatedError("the session has ended; log in again")
        return self._auth(row)

    async def auth_for(self, did: str) -> PdsAuth | None:
        """PDS credentials of the newest live session of ``did`` (None if it has none)."""
        row = await self._store.latest_for_did(did, self._clock.now())
        return None if row is None else self._auth(row)

    def _credentials(self, row: SessionRow) -> PdsCredentials:
        return PdsCredentials(
            did=row.did,
            handle=row.handle,
            pds_url=row.pds_url,
            access_jwt=row.access_token,
            refresh_jwt=row.refresh_token,
        )

    def _auth(self, row: SessionRow) -> PdsAuth:
        session_id = row.id

        async def on_refresh(credentials: PdsCredentials) -> None:
            await self._store.store_tokens(
                session_id, credentials.access_jwt, credentials.refresh_jwt
            )

        return PdsAuth(credentials=self._credentials(row), on_refresh=on_refresh)
