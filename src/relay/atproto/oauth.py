"""The client side of atproto OAuth: discovery, PAR with PKCE, code exchange, refresh, revocation.

Every token-endpoint call carries a DPoP proof and retries once with the server's ``DPoP-Nonce``.
Clients authenticate with ``private_key_jwt`` (confidential, production) or not at all (the
loopback development client the spec allows).
"""

from __future__ import annotations

import base64
import hashlib
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


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _secure_or_local(url: str) -> bool:
    parsed = urlparse(url)
    local = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    return parsed.scheme == "https" or (parsed.scheme == "http" and local)


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
    if not _secure_or_local(url):
        raise BadUserInputError(f"{what} must be served over https: {url}")
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise UpstreamError(f"could not fetch {what}: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise UpstreamError(f"{what} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamError(f"{what} is not JSON") from exc
    if not isinstance(body, dict):
        raise UpstreamError(f"{what} is not a JSON object")
    return body


async def issuer_of(http: httpx.AsyncClient, pds_url: str) -> str:
    """The authorization server a PDS names in its protected-resource metadata."""
    meta = await _get_json(
        http, f"{pds_url}/.well-known/oauth-protected-resource", "protected resource metadata"
    )
    servers = meta.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise UpstreamError(f"{pds_url} names no authorization server")
    return servers[0].rstrip("/")


async def discover(http: httpx.AsyncClient, issuer: str) -> AuthorizationServer:
    meta = await _get_json(
        http, f"{issuer}/.well-known/oauth-authorization-server", "authorization server metadata"
    )
    if meta.get("issuer") != issuer:
        raise UpstreamError(f"authorization server metadata claims issuer {meta.get('issuer')!r}")
    if "ES256" not in meta.get("dpop_signing_alg_values_supported", []):
        raise UpstreamError("the authorization server does not support DPoP with ES256")
    try:
        return AuthorizationServer(
            issuer=issuer,
            authorization_endpoint=meta["authorization_endpoint"],
            token_endpoint=meta["token_endpoint"],
            par_endpoint=meta["pushed_authorization_request_endpoint"],
            revocation_endpoint=meta.get("revocation_endpoint"),
        )
    except KeyError as exc:
        raise UpstreamError(f"authorization server metadata lacks {exc.args[0]}") from None


class OAuthClient:
    def __init__(self, http: httpx.AsyncClient, config: ClientConfig, clock: Clock) -> None:
        self._http = http
        self.config = config
        self._clock = clock
        self._nonces: dict[str, str] = {}  # DPoP-Nonce per authorization server
        self._servers: dict[str, AuthorizationServer] = {}

    async def server(self, issuer: str) -> AuthorizationServer:
        """Metadata of the authorization server ``issuer`` (fetched once per process)."""
        if issuer not in self._servers:
            self._servers[issuer] = await discover(self._http, issuer)
        return self._servers[issuer]

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
            except httpx.HTTPError as exc:
                raise UpstreamError(
                    f"authorization server unreachable: {exc.__class__.__name__}"
                ) from exc
            if nonce := response.headers.get("DPoP-Nonce"):
                self._nonces[server.issuer] = nonce
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.status_code == 400 and body.get("error") == "use_dpop_nonce":
                continue
            if response.status_code >= 500:
                raise UpstreamError(f"authorization server answered HTTP {response.status_code}")
            if response.status_code >= 400:
                error = str(body.get("error", "invalid_request"))
                detail = body.get("error_description") or error
                raise OAuthError(f"the authorization server refused: {detail}", error=error)
            if not isinstance(body, dict):
                raise UpstreamError("the authorization server answered with something not JSON")
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
