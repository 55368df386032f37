"""Repo signatures: ECDSA over SHA-256 with a ``did:key`` (secp256k1 or P-256), low-S only.

secp256k1 — what PDSes sign with — is checked by libsecp256k1 (``coincurve``), about ten times
faster than OpenSSL's generic curve code; P-256 by ``cryptography``. A key is parsed once (the
atproto SDK reads the ``did:key``) and kept.
"""

from __future__ import annotations

from functools import lru_cache

import coincurve
from atproto_crypto.consts import P256_CURVE_ORDER, P256_JWT_ALG, SECP256K1_JWT_ALG
from atproto_crypto.did import parse_did_key
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

# The order of P-256's group: a signature's ``s`` above half of it is the malleable twin.
_P256_ORDER = P256_CURVE_ORDER


@lru_cache(maxsize=65_536)
def _key(did_key: str) -> coincurve.PublicKey | ec.EllipticCurvePublicKey:
    parsed = parse_did_key(did_key)
    if parsed.jwt_alg == SECP256K1_JWT_ALG:
        return coincurve.PublicKey(parsed.key_bytes)
    if parsed.jwt_alg == P256_JWT_ALG:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), parsed.key_bytes)
    raise ValueError(f"unsupported key type {parsed.jwt_alg}")


def signed_by(did_key: str, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 bytes, r‖s) over ``data`` is by ``did_key``; ``ValueError`` for
    a key or signature that cannot be read at all."""
    if len(signature) != 64:
        return False
    try:
        key = _key(did_key)
    except Exception as exc:  # the SDK and the curve libraries raise several kinds
        raise ValueError(f"unreadable signing key: {exc}") from None
    if isinstance(key, coincurve.PublicKey):
        try:
            der = cdata_to_der(deserialize_compact(signature))
        except Exception:  # r or s out of range
            return False
        return bool(key.verify(der, data))  # libsecp256k1 refuses high-S itself
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if s > _P256_ORDER // 2:
        return False
    try:
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(SHA256()))
    except InvalidSignature:
        return False
    return True
