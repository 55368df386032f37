"""relay's own keys: the secret that seals tokens at rest and the OAuth client's signing key.

In production (an https public URL) both must come from configuration. For development they are
generated once and kept in the data dir (mode 0600), so restarts keep sessions working.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from joserfc.jwk import ECKey

from relay.atproto.oauth import ClientConfig
from relay.errors import ConfigurationError
from relay.settings import Settings


def _generated(path: Path, make: str) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make)
    return path.read_text().strip()


def secret_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.is_production:
        raise ConfigurationError(
            "is required when RELAY_PUBLIC_URL is https (it encrypts tokens at rest); "
            "generate one with `openssl rand -hex 32`",
            variable="RELAY_SECRET_KEY",
        )
    return _generated(settings.data_dir / "secret.key", secrets.token_urlsafe(48))


def client_signing_key(settings: Settings) -> ECKey:
    if settings.oauth_client_key is not None:
        raw = settings.oauth_client_key.get_secret_value()
    elif settings.is_production:
        raise ConfigurationError(
            "is required when RELAY_PUBLIC_URL is https: an ES256 private JWK "
            "(`relay oauth-key` prints a new one)",
            variable="RELAY_OAUTH_CLIENT_KEY",
        )
    else:
        new_key = json.dumps(ECKey.generate_key("P-256").as_dict(private=True))
        raw = _generated(settings.data_dir / "oauth-client-key.json", new_key)
    try:
        key = ECKey.import_key(json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "must be an EC P-256 private key as JWK JSON", variable="RELAY_OAUTH_CLIENT_KEY"
        ) from exc
    if not key.is_private:
        raise ConfigurationError(
            "must be the private key (with its 'd' member)", variable="RELAY_OAUTH_CLIENT_KEY"
        )
    return key


def new_client_key_json() -> str:
    return json.dumps(ECKey.generate_key("P-256").as_dict(private=True))


def _loopback_redirect(public_url: str) -> str:
    parsed = urlparse(public_url)
    port = f":{parsed.port}" if parsed.port else ""
    # The spec wants loopback redirect URIs on an IP literal, not "localhost".
    return f"http://127.0.0.1{port}/oauth/callback"


def client_identity(settings: Settings) -> tuple[ClientConfig, dict[str, Any], dict[str, Any]]:
    """(client config, client metadata document, JWKS document)."""
    public = settings.resolved_public_url.rstrip("/")
    if not settings.is_production:
        redirect = _loopback_redirect(public)
        query = urlencode({"redirect_uri": redirect, "scope": settings.oauth_scope})
        config = ClientConfig(
            client_id=f"http://localhost?{query}", redirect_uri=redirect, scope=settings.oauth_scope
        )
        return config, {}, {"keys": []}
    key = client_signing_key(settings)
    kid = key.thumbprint()
    client_id = f"{public}/oauth/client-metadata.json"
    redirect = f"{public}/oauth/callback"
    metadata = {
        "client_id": client_id,
        "client_name": "relay",
        "client_uri": public,
        "application_type": "web",
        "redirect_uris": [redirect],
        "scope": settings.oauth_scope,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "dpop_bound_access_tokens": True,
        "jwks_uri": f"{public}/oauth/jwks.json",
    }
    public_jwk = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": "ES256"}
    config = ClientConfig(
        client_id=client_id,
        redirect_uri=redirect,
        scope=settings.oauth_scope,
        signing_key=key,
        key_id=kid,
    )
    return config, metadata, {"keys": [public_jwk]}
