"""Encryption at rest for tokens and private keys: AES-256-GCM keyed from RELAY_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from relay.errors import SecretBoxError

_PREFIX = "v1:"


def _aead(secret: str) -> AESGCM:
    if len(secret) < 32:
        raise ValueError("the secret key must be at least 32 characters")
    # A fixed, purpose-bound derivation so the raw secret is never used as the key itself.
    return AESGCM(hashlib.sha256(b"relay/secret-box/v1\0" + secret.encode()).digest())


class SecretBox:
    """Seals with ``secret``; opens with it or any of ``previous`` (so a rotated key keeps what
    the old one sealed readable, and each value is sealed anew with the new key when rewritten)."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        self._aead = _aead(secret)
        self._readers = [self._aead, *(_aead(old) for old in previous)]

    def seal(self, plaintext: str, *, context: str) -> str:
        """Encrypt ``plaintext``; ``context`` (e.g. a column name) is authenticated with it."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, *, context: str) -> str:
        if not token.startswith(_PREFIX):
            raise SecretBoxError("not a sealed value")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode())
        for reader in self._readers:
            try:
                return reader.decrypt(raw[:12], raw[12:], context.encode()).decode()
            except InvalidTag:
                continue
        raise SecretBoxError("sealed value does not open with this key")
