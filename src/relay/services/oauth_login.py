"""Sign in with atproto OAuth: start (resolve, PAR, redirect) and finish (check, exchange, session).

Checks on the way back, each a defence the atproto OAuth profile asks for:
- ``state`` must name a pending sign-in (each is used once and expires), and come back to the
  browser that started it (the state is also in a cookie set at the start);
- ``iss`` must be the authorization server the sign-in was sent to;
- the token's ``sub`` must be the DID resolved at the start (when the user named an account);
- that DID's own PDS must name this issuer — so a malicious server cannot claim someone else's DID.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from relay.atproto.dpop import DpopKey
from relay.atproto.identity import IdentityResolver
from relay.atproto.oauth import AuthorizationServer, OAuthClient, pkce_pair
from relay.clock import Clock
from relay.crypto import SecretBox
from relay.db.models import OAuthRequestRow
from relay.db.sessions import OAuthRequestStore
from relay.errors import BadUserInputError, RelayError, UnauthenticatedError, UpstreamError
from relay.services.sessions import SessionService, Viewer

log = logging.getLogger("relay.oauth")


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the state it must bring back (kept in a cookie)."""

    url: str
    state: str


@dataclass(frozen=True)
class SignedIn:
    token: str
    viewer: Viewer
    app_redirect: str | None


class OAuthLogin:
    def __init__(
        self,
        *,
        oauth: OAuthClient,
        identity: IdentityResolver,
        requests: OAuthRequestStore,
        sessions: SessionService,
        box: SecretBox,
        clock: Clock,
        request_ttl: timedelta,
        app_redirects: list[str],
    ) -> None:
        self._oauth = oauth
        self._identity = identity
        self._requests = requests
        self._sessions = sessions
        self._box = box
        self._clock = clock
        self._ttl = request_ttl
        self._app_redirects = app_redirects

    async def start(self, identifier: str, *, app_redirect: str | None = None) -> Started:
        """Begin a sign-in for a handle, a DID, or a PDS/entryway URL; return where to send the
        browser."""
        identifier = identifier.strip()
        if not identifier:
            raise BadUserInputError("enter your handle (e.g. alice.bsky.social) or your PDS URL")
        if app_redirect is not None and app_redirect not in self._app_redirects:
            raise BadUserInputError(
                "redirect_uri is not registered (RELAY_OAUTH_APP_REDIRECTS lists the allowed ones)"
            )
        did: str | None = None
        login_hint: str | None = None
        if identifier.startswith(("https://", "http://")):
            pds_url: str | None = identifier.rstrip("/")
            assert pds_url is not None
            try:
                issuer = await self._oauth.issuer_of(pds_url)
            except UpstreamError:
                issuer = pds_url  # an entryway is its own authorization server
        else:
            identity = await self._identity.resolve(identifier)
            did, pds_url, login_hint = identity.did, identity.pds_url, identifier
            issuer = await self._oauth.issuer_of(identity.pds_url)
        server = await self._oauth.server(issuer)
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(32)
        dpop = DpopKey.generate()
        url = await self._oauth.pushed_authorization(
            server, state=state, code_challenge=challenge, login_hint=login_hint, dpop=dpop
        )
        now = self._clock.now()
        await self._requests.purge_expired(now)
        await self._requests.insert(
            OAuthRequestRow(
                state=state,
                issuer=issuer,
                did=did,
                pds_url=pds_url,
                verifier=self._box.seal(verifier, context="pkce_verifier"),
                dpop_key=self._box.seal(dpop.to_json(), context="dpop_key"),
                app_redirect=app_redirect,
                created_at=now,
                expires_at=now + self._ttl,
            )
        )
        return Started(url=url, state=state)

    async def finish(
        self,
        *,
        state: str | None,
        browser_state: str | None,
        code: str | None,
        iss: str | None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> SignedIn:
        if not state:
            raise BadUserInputError("the sign-in response has no state")
        pending = await self._requests.take(state, self._clock.now())
        if pending is None:
            raise BadUserInputError("unknown or expired sign-in; please start again")
        if browser_state is None or not hmac.compare_digest(browser_state, state):
            # The answer reached a browser that did not start this sign-in (a forged link).
            raise UnauthenticatedError("this sign-in was started elsewhere; please start again")
        if error:
            # The authorization server's own words stay out of relay's answer (they are logged).
            log.info("sign-in not completed: %s %s", error[:64], (error_description or "")[:300])
            reason = "you declined" if error == "access_denied" else "the sign-in was refused"
            raise UnauthenticatedError(f"sign-in was not completed ({reason}); please start again")
        if not code:
            raise BadUserInputError("the sign-in response has no code")
        if iss != pending.issuer:
            raise UnauthenticatedError("the sign-in answer came from an unexpected issuer")
        dpop = DpopKey.from_json(self._box.open(pending.dpop_key, context="dpop_key"))
        verifier = self._box.open(pending.verifier, context="pkce_verifier")
        server = await self._oauth.server(pending.issuer)
        tokens = await self._oauth.exchange_code(server, code=code, verifier=verifier, dpop=dpop)
        try:
            if pending.did is not None and tokens.sub != pending.did:
                raise UnauthenticatedError(
                    "you signed in as a different account than the one you asked for"
                )
            identity = await self._identity.resolve(tokens.sub)
            if await self._oauth.issuer_of(identity.pds_url) != tokens.issuer:
                raise UnauthenticatedError(
                    "this authorization server does not speak for that account's PDS"
                )
            if "atproto" not in tokens.scope.split():
                raise UnauthenticatedError("the sign-in did not grant the atproto scope")
        except Exception:
            await self._revoke_quietly(server, tokens.access_token, dpop)
            raise
        token, viewer = await self._sessions.create_oauth_session(
            tokens, handle=identity.handle or tokens.sub, pds_url=identity.pds_url, dpop=dpop
        )
        return SignedIn(token=token, viewer=viewer, app_redirect=pending.app_redirect)

    async def _revoke_quietly(self, server: AuthorizationServer, token: str, dpop: DpopKey) -> None:
        with contextlib.suppress(RelayError):
            await self._oauth.revoke(server, token=token, dpop=dpop)
