"""Identity resolution: handle → DID → DID document → PDS endpoint and signing key.

DID documents come through the atproto SDK's resolvers (did:plc via the configured PLC directory,
did:web). Handles resolve by DNS and ``/.well-known/atproto-did`` (the SDK's handle resolver), then,
when those give no answer, by asking an XRPC service's ``com.atproto.identity.resolveHandle`` —
the only way to resolve handles under special-use TLDs such as ``.test`` on a local PDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx
from atproto_identity.did.resolver import AsyncDidResolver
from atproto_identity.exceptions import AtProtocolError as IdentityLibraryError
from atproto_identity.handle.resolver import AsyncHandleResolver

from relay.errors import IdentityError, UpstreamError

# RFC 6761/6762 names never resolve in public DNS; skip straight to the resolver service.
_SPECIAL_USE_TLDS = (".test", ".local", ".localhost", ".invalid", ".example", ".internal")


@dataclass(frozen=True)
class Identity:
    """A resolved atproto identity. ``handle`` is None when the DID document claims none that
    resolves back to the DID."""

    did: str
    handle: str | None
    pds_url: str
    signing_key: str | None


class IdentityResolver(Protocol):
    async def resolve(self, identifier: str) -> Identity:
        """Resolve a handle or a DID; raise ``IdentityError`` when it does not resolve."""
        ...

    async def aclose(self) -> None: ...


def _normalize_handle(identifier: str) -> str:
    handle = identifier.strip().lower().removeprefix("@")
    if "." not in handle or not all(handle.split(".")) or len(handle) > 253:
        raise IdentityError(f"{identifier!r} is neither a DID nor a handle", identifier=identifier)
    return handle


class AtprotoIdentityResolver:
    """The production resolver; every network client is passed in or owned and closed here."""

    def __init__(
        self,
        *,
        plc_url: str,
        http: httpx.AsyncClient,
        handle_resolver_url: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._http = http
        self._handle_resolver_url = handle_resolver_url
        self._timeout = timeout
        self._dids = AsyncDidResolver(plc_url=plc_url, timeout=timeout)
        self._handles = AsyncHandleResolver(timeout=timeout)

    async def aclose(self) -> None:
        # The SDK's resolvers each open an httpx client of their own.
        clients = [self._handles._http_client]
        clients += [getattr(m, "_client", None) for m in self._dids._methods.values()]
        for client in clients:
            if isinstance(client, httpx.AsyncClient):
                await client.aclose()

    async def resolve(self, identifier: str) -> Identity:
        if identifier.startswith("did:"):
            return await self._from_did(identifier, expected_handle=None)
        handle = _normalize_handle(identifier)
        did = await self._handle_to_did(handle)
        if did is None:
            raise IdentityError(f"handle {handle} does not resolve to a DID", identifier=identifier)
        return await self._from_did(did, expected_handle=handle)

    async def _handle_to_did(self, handle: str) -> str | None:
        did: str | None = None
        if not handle.endswith(_SPECIAL_USE_TLDS):
            did = await self._handles.resolve(handle)
        if did is None and self._handle_resolver_url is not None:
            did = await self._ask_resolver_service(handle)
        return did

    async def _ask_resolver_service(self, handle: str) -> str | None:
        url = f"{self._handle_resolver_url}/xrpc/com.atproto.identity.resolveHandle"
        try:
            response = await self._http.get(url, params={"handle": handle}, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"handle resolver unreachable: {exc.__class__.__name__}") from exc
        if response.status_code == 400:
            return None
        if response.status_code != 200:
            raise UpstreamError(f"handle resolver answered HTTP {response.status_code}")
        did = response.json().get("did")
        return did if isinstance(did, str) and did.startswith("did:") else None

    async def _from_did(self, did: str, *, expected_handle: str | None) -> Identity:
        if not did.startswith(("did:plc:", "did:web:")):
            raise IdentityError(f"unsupported DID method: {did}", identifier=did)
        try:
            doc = await self._dids.resolve(did)
        except (IdentityLibraryError, httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"could not resolve {did}: {exc.__class__.__name__}") from exc
        if doc is None:
            raise IdentityError(f"DID {did} was not found", identifier=did)
        data = doc.to_atproto_data()
        if data.pds is None:
            raise IdentityError(f"DID {did} names no PDS", identifier=did)
        handle = data.handle.lower() if data.handle else None
        if expected_handle is not None and handle != expected_handle:
            # The DID document must claim the handle back, or the handle is not theirs.
            raise IdentityError(
                f"handle {expected_handle} points at {did}, whose DID document does not claim it",
                identifier=expected_handle,
            )
        return Identity(
            did=did, handle=handle, pds_url=data.pds.rstrip("/"), signing_key=data.signing_key
        )
