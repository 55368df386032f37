"""Relay sessions: create (app password or OAuth), look up by bearer token, act on the PDS, end.

The bearer token is random and returned once; only its SHA-256 is stored. PDS tokens and DPoP keys
are sealed with the secret key. Each live session has one ``PdsAuth`` in memory, so concurrent
requests share a single refresh; refreshed tokens are sealed and written back. A refresh that
fails ends the session: the caller gets UNAUTHENTICATED and must sign in again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from relay.atproto.dpop import DpopKey
from relay.atproto.grants import AppPasswordGrant, Grant, OAuthGrant, PdsAuth
from relay.atproto.identity import IdentityResolver
from relay.atproto.oauth import OAuthClient, TokenSet
from relay.atproto.pds import PdsClient
from relay.clock import Clock
from relay.crypto import SecretBox
from relay.db.models import SessionRow
from relay.db.sessions import SessionStore
from relay.errors import (
    BadUserInputError,
    OAuthError,
    RelayError,
    SecretBoxError,
    UnauthenticatedError,
    UpstreamError,
)
from relay.metrics import RelayMetrics

log = logging.getLogger(__name__)

APP_PASSWORD = "app-password"  # noqa: S105 - an auth kind, not a secret
OAUTH = "oauth"


@dataclass(frozen=True)
class Viewer:
    """The authenticated caller."""

    session_id: int
    did: str
    handle: str
    pds_url: str


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
        oauth: OAuthClient,
        box: SecretBox,
        clock: Clock,
        ttl: timedelta,
        metrics: RelayMetrics,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._identity = identity
        self._pds = pds
        self._oauth = oauth
        self._box = box
        self._clock = clock
        self._ttl = ttl
        self._auths: dict[int, PdsAuth] = {}

    # -- creating sessions ----------------------------------------------------------------------

    async def login(self, identifier: str, password: str) -> tuple[str, Viewer]:
        """Sign in with an app password at the identity's own PDS."""
        if not identifier.strip() or not password:
            raise BadUserInputError("identifier and password are required")
        identity = await self._identity.resolve(identifier.strip())
        grant = await self._pds.create_session(identity.pds_url, identity.did, password)
        if grant.did != identity.did:
            # A PDS answering for another account than the one resolved is not to be trusted.
            raise UnauthenticatedError("the PDS signed in a different account than requested")
        return await self._create(grant, handle=identity.handle or grant.handle)

    async def create_oauth_session(
        self, tokens: TokenSet, *, handle: str, pds_url: str, dpop: DpopKey
    ) -> tuple[str, Viewer]:
        grant = OAuthGrant(
            did=tokens.sub,
            handle=handle,
            pds_url=pds_url,
            issuer=tokens.issuer,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope,
            dpop_key=dpop,
        )
        return await self._create(grant, handle=handle)

    async def _create(self, grant: Grant, *, handle: str) -> tuple[str, Viewer]:
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        row = SessionRow(
            token_hash=hash_token(token),
            did=grant.did,
            handle=handle,
            pds_url=grant.pds_url,
            created_at=now,
            expires_at=now + self._ttl,
            **self._sealed(grant),
        )
        await self._store.insert(row)
        return token, _viewer(row)

    def _sealed(self, grant: Grant) -> dict[str, object]:
        seal = self._box.seal
        values: dict[str, object] = {
            "access_token": seal(grant.access_token, context="access_token"),
            "refresh_token": (
                seal(grant.refresh_token, context="refresh_token") if grant.refresh_token else None
            ),
        }
        if isinstance(grant, OAuthGrant):
            values |= {
                "auth_kind": OAUTH,
                "issuer": grant.issuer,
                "scope": grant.scope,
                "token_expires_at": grant.expires_at,
                "dpop_key": seal(grant.dpop_key.to_json(), context="dpop_key"),
            }
        else:
            values |= {"auth_kind": APP_PASSWORD}
        return values

    def _grant(self, row: SessionRow) -> Grant:
        try:
            return self._open_grant(row)
        except SecretBoxError as exc:
            # Sealed with a key relay no longer has (RELAY_SECRET_KEY changed, the old one not in
            # RELAY_SECRET_KEY_PREVIOUS): the session cannot act any more.
            log.warning("session %s cannot be opened with the current secret keys", row.id)
            raise UnauthenticatedError(
                "your sign-in can no longer be read by this relay; log in again"
            ) from exc

    def _open_grant(self, row: SessionRow) -> Grant:
        open_ = self._box.open
        access = open_(row.access_token, context="access_token")
        refresh = open_(row.refresh_token, context="refresh_token") if row.refresh_token else None
        if row.auth_kind == OAUTH:
            assert row.issuer is not None and row.dpop_key is not None
            return OAuthGrant(
                did=row.did,
                handle=row.handle,
                pds_url=row.pds_url,
                issuer=row.issuer,
                access_token=access,
                refresh_token=refresh,
                expires_at=row.token_expires_at,
                scope=row.scope or "",
                dpop_key=DpopKey.from_json(open_(row.dpop_key, context="dpop_key")),
            )
        return AppPasswordGrant(
            did=row.did,
            handle=row.handle,
            pds_url=row.pds_url,
            access_token=access,
            refresh_token=refresh or "",
        )

    # -- using sessions -------------------------------------------------------------------------

    def forget_grants(self) -> None:
        """Drop the in-memory grants; the next PDS call of each session re-reads its tokens from
        the database (as a freshly started process would)."""
        self._auths.clear()

    async def authenticate(self, token: str) -> Viewer:
        row = await self._store.by_token_hash(hash_token(token), self._clock.now())
        if row is None:
            raise UnauthenticatedError("the session token is invalid or has expired")
        return _viewer(row)

    async def auth_for_viewer(self, viewer: Viewer) -> PdsAuth:
        auth = self._auths.get(viewer.session_id)
        if auth is not None:
            return auth
        row = await self._store.get(viewer.session_id)
        if row is None:
            raise UnauthenticatedError("the session has ended; log in again")
        return self._auth(row)

    async def auth_for(self, did: str) -> PdsAuth | None:
        """The newest live session of ``did`` (None if it has none): for background publishing."""
        row = await self._store.latest_for_did(did, self._clock.now())
        if row is None:
            return None
        return self._auth(row)

    def _auth(self, row: SessionRow) -> PdsAuth:
        session_id = row.id

        async def refresh(grant: Grant) -> Grant:
            # One refresh per session across every process: under the row's lock, tokens another
            # process rotated meanwhile are used as they are, never refreshed again (a refresh
            # token used twice makes the PDS revoke the whole session).
            try:
                async with self._store.locked(session_id) as locked:
                    if locked.row is None:
                        raise OAuthError("the session was ended", error="invalid_grant")
                    stored = self._grant(locked.row)
                    if stored.refresh_token != grant.refresh_token:
                        self._metrics.token_refreshes.labels(outcome="adopted").inc()
                        return stored
                    fresh = await self._refresh(grant)
                    for name, value in self._sealed(fresh).items():
                        setattr(locked.row, name, value)
                    self._metrics.token_refreshes.labels(outcome="refreshed").inc()
                    return fresh
            except UpstreamError:
                self._metrics.token_refreshes.labels(outcome="unavailable").inc()
                raise  # the server is down, the session is not invalid
            except RelayError as exc:
                self._metrics.token_refreshes.labels(outcome="refused").inc()
                log.info("ending session %s of %s: refresh failed", session_id, grant.did)
                await self._end(session_id)
                raise UnauthenticatedError(
                    "your sign-in has expired or was revoked; log in again"
                ) from exc

        # Another request may have built it while we awaited the row: keep exactly one per
        # session, or two refreshes would reuse a refresh token and the PDS revokes them all.
        existing = self._auths.get(session_id)
        if existing is not None:
            return existing
        auth = PdsAuth(self._grant(row), refresh=refresh, clock=self._clock)
        self._auths[session_id] = auth
        return auth

    async def _refresh(self, grant: Grant) -> Grant:
        if isinstance(grant, AppPasswordGrant):
            return await self._pds.refresh_session(grant)
        if grant.refresh_token is None:
            raise OAuthError("no refresh token was issued", error="invalid_grant")
        server = await self._oauth.server(grant.issuer)
        tokens = await self._oauth.refresh(
            server, refresh_token=grant.refresh_token, dpop=grant.dpop_key
        )
        if tokens.sub != grant.did:
            raise OAuthError("the refreshed token is for another account", error="invalid_grant")
        return OAuthGrant(
            did=grant.did,
            handle=grant.handle,
            pds_url=grant.pds_url,
            issuer=grant.issuer,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or grant.refresh_token,
            expires_at=tokens.expires_at,
            scope=tokens.scope or grant.scope,
            dpop_key=grant.dpop_key,
        )

    # -- ending sessions ------------------------------------------------------------------------

    async def logout(self, viewer: Viewer) -> None:
        row = await self._store.get(viewer.session_id)
        if row is not None:
            grant = self._grant(row)
            try:
                if isinstance(grant, OAuthGrant):
                    server = await self._oauth.server(grant.issuer)
                    for token in (grant.refresh_token, grant.access_token):
                        if token:
                            await self._oauth.revoke(server, token=token, dpop=grant.dpop_key)
                else:
                    await self._pds.delete_session(grant)
            except RelayError as exc:
                log.warning("could not revoke the PDS session on logout: %s", exc.message)
        await self._end(viewer.session_id)

    async def _end(self, session_id: int) -> None:
        self._auths.pop(session_id, None)
        await self._store.delete(session_id)
