"""The client side of atproto OAuth: discovery, PAR with PKCE, code exchange, refresh, revocation.

Every token-endpoint call carries a DPoP proof and retries once with the server's ``DPoP-Nonce``.
Clients authenticate with ``private_key_jwt`` (confidential, production) or not at all (the
loopback development client the spec allows).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from relay.atproto.dpop import DpopKey
from relay.clock import Clock
from relay.errors import BadUserInputError, OAuthError, UpstreamError
from relay.net.outbound import REQUEST_ERRORS

log = logging.getLogger("relay.oauth")


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, or None."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.username:
        return None
    return f"{parsed.scheme}://{parsed.netloc}".lower()


@dataclass(frozen=True)
class AuthorizationServer:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    par_endpoint: str
    revocation_endpoint: str | None


@dataclass(frozen=True)
class ClientConfig:
    client_id: str
    redirect_uri: str
    scope: str
    signing_key: ECKey | None = None  # set: private_key_jwt; unset: public loopback client
    key_id: str | None = None


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    sub: str
    scope: str
    issuer: str


async def _get_json(http: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except REQUEST_ERRORS as exc:
        log.warning("%s: %s could not be fetched: %s", what, url, exc)
        raise UpstreamError(f"the {what} could not be fetched") from exc
    try:
        body = response.json() if response.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning(
            "%s: %s answered HTTP %s without a JSON object", what, url, response.status_code
        )
        raise UpstreamError(f"the {what} could not be read")
    return body


_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "pushed_authorization_request_endpoint",
    "revocation_endpoint",
)


def _checked_endpoints(meta: dict[str, Any], issuer: str) -> dict[str, str]:
    """The endpoints relay calls, each an absolute URL on the issuer's own origin: metadata from
    one server never sends relay (with client assertions and codes) to another host."""
    found: dict[str, str] = {}
    for name in _ENDPOINTS:
        value = meta.get(name)
        if value is None and name == "revocation_endpoint":
            continue
        if not isinstance(value, str) or _origin(value) != issuer:
            log.warning("authorization server %s: %s is %r", issuer, name, value)
            raise UpstreamError(
                "the authorization server's metadata names an endpoint off its own origin"
            )
        found[name] = value
    return found


class OAuthClient:
    """``require_https``: the PDS, the issuer and every endpoint must be https (production)."""

    def __init__(
        self, http: httpx.AsyncClient, config: ClientConfig, clock: Clock, *,
        require_https: bool = True,
    ) -> None:  # fmt: skip
        self._http = http
        self.config = config
        self._clock = clock
        self._require_https = require_https
        self._nonces: dict[str, str] = {}  # DPoP-Nonce per authorization server
        self._servers: dict[str, AuthorizationServer] = {}

    def _checked_origin(self, url: str, what: str) -> str:
        origin = _origin(url.rstrip("/"))
        if origin is None or origin != url.rstrip("/").lower():
            raise BadUserInputError(f"the {what} must be an http(s) origin, e.g. https://host")
        if self._require_https and not origin.startswith("https://"):
            raise BadUserInputError(f"the {what} must be served over https")
        return origin

    async def issuer_of(self, pds_url: str) -> str:
        """The authorization server a PDS names in its protected-resource metadata."""
        pds = self._checked_origin(pds_url, "PDS")
        meta = await _get_json(
            self._http, f"{pds}/.well-known/oauth-protected-resource", "PDS's OAuth metadata"
        )
        servers = meta.get("authorization_servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
            raise UpstreamError("the PDS names no authorization server")
        try:
            return self._checked_origin(servers[0], "authorization server")
        except BadUserInputError as exc:
            raise UpstreamError(f"the PDS names an unusable authorization server: {exc}") from None

    async def server(self, issuer: str) -> AuthorizationServer:
        """Metadata of the authorization server ``issuer`` (fetched once per process)."""
        if issuer not in self._servers:
            self._servers[issuer] = await self._discover(issuer)
        return self._servers[issuer]

    async def _discover(self, issuer: str) -> AuthorizationServer:
        issuer = self._checked_origin(issuer, "authorization server")
        meta = await _get_json(
            self._http,
            f"{issuer}/.well-known/oauth-authorization-server",
            "authorization server's metadata",
        )
        if meta.get("issuer") != issuer:
            log.warning("authorization server %s claims issuer %r", issuer, meta.get("issuer"))
            raise UpstreamError("the authorization server's metadata names another issuer")
        algs = meta.get("dpop_signing_alg_values_supported")
        if not isinstance(algs, list) or "ES256" not in algs:
            raise UpstreamError("the authorization server does not support DPoP with ES256")
        endpoints = _checked_endpoints(meta, issuer)
        return AuthorizationServer(
            issuer=issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            par_endpoint=endpoints["pushed_authorization_request_endpoint"],
            revocation_endpoint=endpoints.get("revocation_endpoint"),
        )

    def _client_auth(self, server: AuthorizationServer) -> dict[str, str]:
        params = {"client_id": self.config.client_id}
        key = self.config.signing_key
        if key is not None:
            now = int(time.time())
            assertion = jwt.encode(
                {"alg": "ES256", "kid": self.config.key_id},
                {
                    "iss": self.config.client_id,
                    "sub": self.config.client_id,
                    "aud": server.issuer,
                    "jti": secrets.token_urlsafe(16),
                    "iat": now,
                    "exp": now + 60,
                },
                key,
            )
            params["client_assertion_type"] = (
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            )
            params["client_assertion"] = assertion
        return params

    async def _post(
        self, server: AuthorizationServer, url: str, data: dict[str, str], dpop: DpopKey
    ) -> dict[str, Any]:
        for _ in range(2):
            proof = dpop.proof("POST", url, nonce=self._nonces.get(server.issuer))
            try:
                response = await self._http.post(
                    url, data={**data, **self._client_auth(server)}, headers={"DPoP": proof}
                )
            except REQUEST_ERRORS as exc:
                log.warning("authorization server %s: POST %s failed: %s", server.issuer, url, exc)
                raise UpstreamError("the authorization server could not be reached") from exc
            if nonce := response.headers.get("DPoP-Nonce"):
                self._nonces[server.issuer] = nonce
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if response.status_code == 400 and body.get("error") == "use_dpop_nonce":
                continue
            if response.status_code >= 500:
                log.warning("authorization server %s: HTTP %s", server.issuer, response.status_code)
                raise UpstreamError("the authorization server failed")
            if response.status_code >= 400:
                error = str(body.get("error", "invalid_request"))[:64]
                log.warning(
                    "authorization server %s refused: %s %s",
                    server.issuer, error, str(body.get("error_description", ""))[:300],
                )  # fmt: skip
                raise OAuthError("the authorization server refused the request", error=error)
            if not 200 <= response.status_code < 300:
                log.warning("authorization server %s: HTTP %s", server.issuer, response.status_code)
                raise UpstreamError("the authorization server answered unexpectedly")
            return body
        raise UpstreamError("the authorization server kept asking for a new DPoP nonce")

    async def pushed_authorization(
        self,
        server: AuthorizationServer,
        *,
        state: str,
        code_challenge: str,
        login_hint: str | None,
        dpop: DpopKey,
    ) -> str:
        """Push the request (PAR); return the browser URL of the authorization page."""
        data = {
            "response_type": "code",
            "redirect_uri": self.config.redirect_uri,
            "scope": self.config.scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            data["login_hint"] = login_hint
        body = await self._post(server, server.par_endpoint, data, dpop)
        request_uri = body.get("request_uri")
        if not isinstance(request_uri, str):
            raise UpstreamError("the authorization server returned no request_uri")
        query = urlencode({"client_id": self.config.client_id, "request_uri": request_uri})
        return f"{server.authorization_endpoint}?{query}"

    def _token_set(self, server: AuthorizationServer, body: dict[str, Any]) -> TokenSet:
        if str(body.get("token_type", "")).lower() != "dpop":
            raise UpstreamError("the authorization server issued a token that is not DPoP-bound")
        sub, access = body.get("sub"), body.get("access_token")
        if not isinstance(sub, str) or not sub.startswith("did:") or not isinstance(access, str):
            raise UpstreamError("the token response lacks a DID subject or an access token")
        expires_in = body.get("expires_in")
        expires_at = (
            self._clock.now() + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | float)
            else None
        )
        refresh = body.get("refresh_token")
        return TokenSet(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else None,
            expires_at=expires_at,
            sub=sub,
            scope=str(body.get("scope", "")),
            issuer=server.issuer,
        )

    async def exchange_code(
        self, server: AuthorizationServer, *, code: str, verifier: str, dpop: DpopKey
    ) -> TokenSet:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": self.config.redirect_uri,
        }
        return self._token_set(server, await self._post(server, server.token_endpoint, data, dpop))

    async def refresh(
        self, server: AuthorizationServer, *, refresh_token: str, dpop: DpopKey
    ) -> TokenSet:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token_set(server, await self._post(server, server.token_endpoint, data, dpop))

    async def revoke(self, server: AuthorizationServer, *, token: str, dpop: DpopKey) -> None:
        if server.revocation_endpoint is None:
            return
        await self._post(server, server.revocation_endpoint, {"token": token}, dpop)
