"""Identity resolution: handle → DID → DID document → PDS endpoint and signing key.

Everything goes over relay's one outbound client (``relay.net.outbound``), so handles and DID
documents chosen by strangers cannot make relay reach internal addresses, and every answer is
bounded and checked before it is used:

- a handle must be a syntactically valid domain name (no IP literals, ports, paths or schemes);
  it resolves by DNS (``_atproto.<handle>`` TXT) then ``https://<handle>/.well-known/atproto-did``,
  and — when neither answers — by asking the configured XRPC service's
  ``com.atproto.identity.resolveHandle`` (the only way for special-use TLDs such as ``.test``);
- ``did:plc`` documents come from the configured PLC directory, ``did:web`` ones (hostname form
  only) from ``https://<host>/.well-known/did.json``; a document must name the DID it was fetched
  for, and its PDS endpoint must be an http(s) origin;
- a handle counts only both ways: the DID document claims it, and it resolves to the DID.

Errors for callers say what failed in relay's words; the upstream detail goes to the log.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import dns.asyncresolver
import dns.exception
import httpx
from atproto_core.did_doc import DidDocument
from pydantic import ValidationError

from relay.errors import IdentityError, UpstreamError
from relay.net.outbound import REQUEST_ERRORS

log = logging.getLogger("relay.identity")

# RFC 6761/6762 names never resolve in public DNS; skip straight to the resolver service.
_SPECIAL_USE_TLDS = (".test", ".local", ".localhost", ".invalid", ".example", ".internal")
# The atproto handle grammar: labels of letters, digits and hyphens; the TLD starts with a letter.
_HANDLE = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_DID_PLC = re.compile(r"^did:plc:[a-z2-7]{24}\Z")
_DID_WEB = re.compile(r"^did:web:[a-z0-9.-]+(%3[aA][0-9]{1,5})?\Z")
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2000}\Z")
# A PDS's host name (lower-cased by urlparse): LDH labels, at most 253 characters.
_HOST_NAME = re.compile(
    r"^(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z"
)
# A DID document is a few KiB; nothing relay reads from one is larger.
MAX_DOCUMENT_BYTES = 64 * 1024

# (qname) → the TXT strings found; DNS errors and NXDOMAIN give an empty list.
TxtLookup = Callable[[str, float], Awaitable[list[str]]]


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


def normalize_handle(identifier: str) -> str:
    """``identifier`` as a handle (lower case, no leading @), or ``IdentityError``."""
    handle = identifier.strip().lower().removeprefix("@")
    if len(handle) > 253 or not _HANDLE.match(handle):
        raise IdentityError(
            f"{identifier[:100]!r} is neither a DID nor a handle", identifier=identifier
        )
    return handle


async def dns_txt(qname: str, lifetime: float) -> list[str]:
    """TXT strings of ``qname`` from the system's DNS resolver."""
    try:
        answer = await dns.asyncresolver.resolve(qname, "TXT", lifetime=lifetime)
    except dns.exception.DNSException:
        return []
    return [
        part.decode("utf-8", "replace")
        for record in answer
        for part in getattr(record, "strings", ())
    ]


def _did_from_text(text: str) -> str | None:
    did = text.strip()
    return did if _DID.match(did) else None


def _web_document_url(did: str) -> str:
    host = did.removeprefix("did:web:").replace("%3A", ":").replace("%3a", ":")
    return f"https://{host}/.well-known/did.json"


def _usable_host(host: str) -> bool:
    """A DNS name or an IP address, as text every HTTP client takes (no IDNA left to do)."""
    if _HOST_NAME.match(host):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pds_origin(endpoint: str | None, did: str) -> str:
    if endpoint is None:
        raise IdentityError(f"DID {did} names no PDS", identifier=did)
    unusable = IdentityError(f"DID {did} names no usable PDS endpoint", identifier=did)
    if not isinstance(endpoint, str) or len(endpoint) > 2048 or not endpoint.isascii():
        raise unusable
    try:  # a bad IPv6 literal or port is a ValueError; an unknown one would fail every request
        parsed = urlparse(endpoint)
        host, _ = parsed.hostname, parsed.port
    except ValueError:
        raise unusable from None
    if parsed.scheme not in ("http", "https") or not host or not _usable_host(host):
        raise unusable
    if parsed.path.strip("/") or parsed.query or parsed.fragment or parsed.username:
        raise IdentityError(f"DID {did} names a PDS endpoint that is not an origin", identifier=did)
    return f"{parsed.scheme}://{parsed.netloc}".lower()


class AtprotoIdentityResolver:
    """The production resolver. ``http`` is relay's outbound client; ``txt`` looks up DNS."""

    def __init__(
        self,
        *,
        plc_url: str,
        http: httpx.AsyncClient,
        handle_resolver_url: str | None = None,
        timeout: float = 5.0,
        txt: TxtLookup = dns_txt,
    ) -> None:
        self._plc_url = plc_url.rstrip("/")
        self._http = http
        self._handle_resolver_url = handle_resolver_url
        self._timeout = timeout
        self._txt = txt

    async def aclose(self) -> None:
        """Nothing of its own to close: the outbound client belongs to the caller."""

    async def resolve(self, identifier: str) -> Identity:
        if identifier.startswith("did:"):
            return await self._from_did(identifier, expected_handle=None)
        handle = normalize_handle(identifier)
        did = await self._handle_to_did(handle)
        if did is None:
            raise IdentityError(f"handle {handle} does not resolve to a DID", identifier=identifier)
        return await self._from_did(did, expected_handle=handle)

    async def _get(self, url: str, what: str, **params: str) -> httpx.Response | None:
        """GET ``url``; None when the host could not be reached (logged)."""
        try:
            return await self._http.get(
                url, params=params or None, timeout=self._timeout,
                extensions={"relay_max_response_bytes": MAX_DOCUMENT_BYTES},
            )  # fmt: skip
        except REQUEST_ERRORS as exc:
            log.warning("%s: %s failed: %s", what, url, exc)
            return None

    async def _handle_to_did(self, handle: str) -> str | None:
        did: str | None = None
        if not handle.endswith(_SPECIAL_USE_TLDS):
            did = await self._handle_by_dns(handle) or await self._handle_by_https(handle)
        if did is None and self._handle_resolver_url is not None:
            did = await self._ask_resolver_service(handle)
        return did

    async def _handle_by_dns(self, handle: str) -> str | None:
        found = {
            did
            for text in await self._txt(f"_atproto.{handle}", self._timeout)
            if text.startswith("did=") and (did := _did_from_text(text[4:]))
        }
        # Two different DIDs claimed by one name: ambiguous, so neither counts.
        return found.pop() if len(found) == 1 else None

    async def _handle_by_https(self, handle: str) -> str | None:
        response = await self._get(f"https://{handle}/.well-known/atproto-did", "handle")
        if response is None or response.status_code != 200:
            return None
        return _did_from_text(response.text.splitlines()[0] if response.text else "")

    async def _ask_resolver_service(self, handle: str) -> str | None:
        url = f"{self._handle_resolver_url}/xrpc/com.atproto.identity.resolveHandle"
        response = await self._get(url, "handle resolver", handle=handle)
        if response is None:
            raise UpstreamError("the handle resolver could not be reached")
        if response.status_code == 400:
            return None
        if response.status_code != 200:
            log.warning("handle resolver %s answered HTTP %s", url, response.status_code)
            raise UpstreamError("the handle resolver failed")
        did = _json_object(response).get("did")
        return did if isinstance(did, str) and _DID.match(did) else None

    async def _document(self, did: str) -> dict[str, Any]:
        if _DID_PLC.match(did):
            url = f"{self._plc_url}/{did}"  # checked against the did:plc grammar above
        elif _DID_WEB.match(did):
            url = _web_document_url(did)
        else:
            raise IdentityError(f"unsupported or malformed DID: {did[:100]}", identifier=did)
        response = await self._get(url, "DID document")
        if response is None:
            raise UpstreamError(f"the DID document of {did} could not be fetched")
        if response.status_code in (404, 410):
            raise IdentityError(f"DID {did} was not found", identifier=did)
        if response.status_code != 200:
            log.warning("DID document %s answered HTTP %s", url, response.status_code)
            raise UpstreamError(f"the DID document of {did} could not be fetched")
        return _json_object(response)

    async def _from_did(self, did: str, *, expected_handle: str | None) -> Identity:
        raw = await self._document(did)
        try:
            doc = DidDocument.from_dict(raw)
        except (ValidationError, ValueError, TypeError):
            raise IdentityError(f"DID {did} has a malformed DID document", identifier=did) from None
        if doc.id != did:
            raise IdentityError(
                f"the DID document fetched for {did} is another DID's", identifier=did
            )
        pds_url = _pds_origin(doc.get_pds_endpoint(), did)
        claimed = doc.get_handle()
        handle = claimed.lower() if claimed else None
        if expected_handle is not None and handle != expected_handle:
            # The DID document must claim the handle back, or the handle is not theirs.
            raise IdentityError(
                f"handle {expected_handle} points at {did}, whose DID document does not claim it",
                identifier=expected_handle,
            )
        if expected_handle is None and handle is not None:
            handle = await self._verified(handle, did)
        return Identity(did=did, handle=handle, pds_url=pds_url, signing_key=doc.get_did_key())

    async def _verified(self, handle: str, did: str) -> str | None:
        """``handle`` when it resolves back to ``did``; anyone can write any handle into their
        own DID document, so an unconfirmed one is not shown (None)."""
        try:
            back = await self._handle_to_did(normalize_handle(handle))
        except (IdentityError, UpstreamError) as exc:
            log.info("handle %s of %s not confirmed: %s", handle, did, exc.message)
            return None
        if back != did:
            log.info("handle %s claimed by %s resolves to %s", handle, did, back)
            return None
        return handle


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        log.warning("%s answered with something that is not a JSON object", response.url)
        raise UpstreamError("an identity service answered with something that is not JSON")
    return body
