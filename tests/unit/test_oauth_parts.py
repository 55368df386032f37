"""DPoP proofs, sealed secrets and the confidential client's identity documents."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from relay.atproto.dpop import DpopKey, access_token_hash
from relay.atproto.oauth import AuthorizationServer, OAuthClient, pkce_pair
from relay.clock import SystemClock
from relay.crypto import SecretBox
from relay.errors import ConfigurationError, SecretBoxError
from relay.keys import client_identity, new_client_key_json, secret_key
from relay.settings import Settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_dpop_proof_carries_what_the_server_checks() -> None:
    key = DpopKey.generate()
    proof = key.proof("post", "https://pds.example/xrpc/x?y=1#z", nonce="n1", access_token="tok")
    header = json.loads(__import__("base64").urlsafe_b64decode(proof.split(".")[0] + "=="))
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert "d" not in header["jwk"]
    claims = jwt.decode(proof, ECKey.import_key(header["jwk"])).claims
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://pds.example/xrpc/x"
    assert claims["nonce"] == "n1"
    assert claims["ath"] == access_token_hash("tok")
    assert (
        claims["jti"]
        != jwt.decode(key.proof("GET", "https://a"), ECKey.import_key(header["jwk"])).claims["jti"]
    )
    restored = DpopKey.from_json(key.to_json())
    assert restored.public_jwk == key.public_jwk


def test_pkce_pair_is_s256() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == digest.decode()
    assert 43 <= len(verifier) <= 128


def test_secret_box_seals_with_context() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal("refresh-token", context="refresh_token")
    assert "refresh-token" not in sealed
    assert box.open(sealed, context="refresh_token") == "refresh-token"
    with pytest.raises(SecretBoxError):
        box.open(sealed, context="access_token")  # a value moved to another column won't open
    with pytest.raises(SecretBoxError):
        SecretBox("x" * 40).open(sealed, context="refresh_token")


def test_development_keys_are_generated_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = secret_key(settings)
    assert secret_key(settings) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    config, document, keys = client_identity(settings)
    assert config.client_id.startswith("http://localhost?")
    query = parse_qs(urlparse(config.client_id).query)
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/oauth/callback"]
    assert query["scope"] == [
        "atproto repo:app.relay.track repo:app.relay.like repo:app.relay.list"
    ]
    assert config.signing_key is None and document == {} and keys == {"keys": []}


def test_production_needs_configured_keys(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url="https://relay.example")
    with pytest.raises(ConfigurationError) as info:
        secret_key(settings)
    assert info.value.variable == "RELAY_SECRET_KEY"
    with pytest.raises(ConfigurationError) as info:
        client_identity(settings)
    assert info.value.variable == "RELAY_OAUTH_CLIENT_KEY"


def test_confidential_client_documents_and_assertion(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, public_url="https://relay.example", oauth_client_key=new_client_key_json()
    )
    config, document, keys = client_identity(settings)
    assert config.client_id == "https://relay.example/oauth/client-metadata.json"
    assert document["client_id"] == config.client_id
    assert document["redirect_uris"] == ["https://relay.example/oauth/callback"]
    assert document["token_endpoint_auth_method"] == "private_key_jwt"
    assert document["dpop_bound_access_tokens"] is True
    assert document["jwks_uri"] == "https://relay.example/oauth/jwks.json"
    assert (
        document["scope"] == "atproto repo:app.relay.track repo:app.relay.like repo:app.relay.list"
    )
    (public,) = keys["keys"]
    assert "d" not in public and public["kid"] == config.key_id

    server = AuthorizationServer(
        issuer="https://auth.example",
        authorization_endpoint="https://auth.example/oauth/authorize",
        token_endpoint="https://auth.example/oauth/token",
        par_endpoint="https://auth.example/oauth/par",
        revocation_endpoint=None,
    )
    client = OAuthClient(None, config, SystemClock())  # type: ignore[arg-type]
    params = client._client_auth(server)
    assert params["client_id"] == config.client_id
    decoded = jwt.decode(params["client_assertion"], ECKey.import_key(public))
    assert decoded.header["kid"] == config.key_id
    assert decoded.claims["iss"] == decoded.claims["sub"] == config.client_id
    assert decoded.claims["aud"] == "https://auth.example"
    assert decoded.claims["exp"] > decoded.claims["iat"]


def test_bad_client_key_is_a_configuration_error(tmp_path: Path) -> None:
    public_only = json.dumps(ECKey.generate_key("P-256").as_dict(private=False))
    for raw in ("not json", public_only):
        settings = _settings(tmp_path, public_url="https://relay.example", oauth_client_key=raw)
        with pytest.raises(ConfigurationError):
            client_identity(settings)
