"""DPoP (RFC 9449) keys and proofs, on joserfc."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey


def access_token_hash(token: str) -> str:
    """The ``ath`` claim: base64url(SHA-256(access token))."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class DpopKey:
    """An ES256 key that signs DPoP proofs. Its private JWK is stored (sealed) with the session."""

    def __init__(self, key: ECKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> DpopKey:
        return cls(ECKey.generate_key("P-256"))

    @classmethod
    def from_json(cls, data: str) -> DpopKey:
        return cls(ECKey.import_key(json.loads(data)))

    def to_json(self) -> str:
        return json.dumps(self._key.as_dict(private=True))

    @property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self._key.as_dict(private=False))

    def proof(
        self, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None
    ) -> str:
        """A fresh proof for one request; ``url`` without query or fragment (``htu``)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(time.time()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk}
        return jwt.encode(header, claims, self._key)
