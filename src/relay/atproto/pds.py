"""Calls to a user's PDS: one small XRPC layer on httpx for every write relay makes.

The grant decides the credentials (``Authorization: Bearer`` for app passwords, ``Authorization:
DPoP`` plus a fresh proof with ``ath`` for OAuth); this layer adds what every call needs — the
PDS's ``DPoP-Nonce`` (retried once when the PDS asks for a new one), one refresh-and-retry when
the PDS rejects the token, and the mapping of XRPC errors onto relay's error tree.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx

from relay.atproto.grants import AppPasswordGrant, PdsAuth
from relay.atproto.tid import is_tid
from relay.errors import (
    BadUserInputError,
    ConflictError,
    InsufficientScopeError,
    PdsUnavailableError,
    RelayError,
    UnauthenticatedError,
)
from relay.net.outbound import REQUEST_ERRORS

log = logging.getLogger("relay.pds")

_TOKEN_ERRORS = {"ExpiredToken", "InvalidToken", "invalid_token", "AuthRequired"}


@dataclass(frozen=True)
class RecordRef:
    """A record the PDS wrote: its URI, CID and the revision of the commit that wrote it (None
    when the PDS did not say, or said something that is not a TID)."""

    uri: str
    cid: str
    rev: str | None = None


def _commit_rev(out: dict[str, Any]) -> str | None:
    commit = out.get("commit")
    rev = commit.get("rev") if isinstance(commit, dict) else None
    return rev if isinstance(rev, str) and is_tid(rev) else None


class PdsClient(Protocol):
    async def create_session(
        self, pds_url: str, identifier: str, password: str
    ) -> AppPasswordGrant: ...

    async def refresh_session(self, grant: AppPasswordGrant) -> AppPasswordGrant: ...

    async def delete_session(self, grant: AppPasswordGrant) -> None: ...

    async def put_record(
        self,
        auth: PdsAuth,
        *,
        collection: str,
        rkey: str,
        record: dict[str, Any],
        swap_record: str | None,
    ) -> RecordRef: ...

    async def delete_record(self, auth: PdsAuth, *, collection: str, rkey: str) -> str | None:
        """Delete a record; the revision of the commit that deleted it, when the PDS says."""
        ...


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    www_authenticate: str

    @property
    def error(self) -> str:
        return str(self.body.get("error", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message") or self.body.get("error_description") or self.error)

    @property
    def wants_nonce(self) -> bool:
        return self.error == "use_dpop_nonce" or "use_dpop_nonce" in self.www_authenticate

    @property
    def token_rejected(self) -> bool:
        if self.status == 401:
            return not self.wants_nonce
        return self.status == 400 and self.error in _TOKEN_ERRORS

    @property
    def scope_refused(self) -> bool:
        text = f"{self.error} {self.message} {self.www_authenticate}".lower()
        return self.status == 403 and ("scope" in text or "permission" in text)


def _map(answer: _Answer, *, did: str | None, action: str) -> RelayError:
    """relay's error for a refused call. The PDS's own words (status, error name, message) go to
    the log, never to relay's caller."""
    log.warning(
        "PDS %s for %s refused: HTTP %s %s %s",
        action, did, answer.status, answer.error[:64], answer.message[:300],
    )  # fmt: skip
    if answer.status >= 500 or answer.status == 429:
        return PdsUnavailableError(f"PDS {action} failed: the PDS is unavailable", did=did)
    if answer.error == "InvalidSwap":
        return ConflictError(
            "the record on the PDS changed since relay last saw it; reload and try again"
        )
    if answer.scope_refused:
        return InsufficientScopeError(
            f"this sign-in does not allow the {action}; sign in again "
            "and grant relay access to app.relay.track records"
        )
    if answer.token_rejected or answer.error == "AuthenticationRequired":
        return UnauthenticatedError("the PDS refused the session; sign in again")
    return BadUserInputError(f"the PDS rejected the {action}")


class XrpcPdsClient:
    def __init__(self, http: httpx.AsyncClient, *, timeout: float) -> None:
        self._http = http
        self._timeout = timeout
        self._nonces: dict[str, str] = {}  # DPoP-Nonce per PDS origin

    async def _send(
        self, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None, *,
        did: str | None, action: str,
    ) -> _Answer:  # fmt: skip
        try:
            response = await self._http.request(
                method, url, json=body, headers=headers, timeout=self._timeout
            )
        except REQUEST_ERRORS as exc:
            log.warning("PDS %s for %s: %s failed: %s", action, did, _origin(url), exc)
            raise PdsUnavailableError(f"PDS {action} failed: unreachable", did=did) from exc
        if nonce := response.headers.get("DPoP-Nonce"):
            self._nonces[_origin(url)] = nonce
        try:
            parsed = response.json() if response.content else {}
        except ValueError:
            parsed = {}
        return _Answer(
            status=response.status_code,
            body=parsed if isinstance(parsed, dict) else {},
            www_authenticate=response.headers.get("WWW-Authenticate", ""),
        )

    async def _call(
        self, auth: PdsAuth, method: str, nsid: str, body: dict[str, Any] | None, action: str
    ) -> dict[str, Any]:
        grant = await auth.fresh()
        url = f"{grant.pds_url}/xrpc/{nsid}"
        refreshed = False
        for _ in range(4):
            headers = grant.authorize(method, url, self._nonces.get(_origin(url)))
            answer = await self._send(method, url, headers, body, did=grant.did, action=action)
            if answer.status < 300:
                return answer.body
            if answer.wants_nonce:
                continue
            if answer.token_rejected and not refreshed:
                grant = await auth.after_rejection(grant.access_token)
                refreshed = True
                continue
            raise _map(answer, did=grant.did, action=action)
        raise PdsUnavailableError(f"PDS {action} failed: no usable DPoP nonce", did=grant.did)

    async def create_session(
        self, pds_url: str, identifier: str, password: str
    ) -> AppPasswordGrant:
        url = f"{pds_url}/xrpc/com.atproto.server.createSession"
        answer = await self._send(
            "POST", url, {}, {"identifier": identifier, "password": password},
            did=None, action="login",
        )  # fmt: skip
        if answer.status in (400, 401):
            raise UnauthenticatedError("invalid identifier or password")
        if answer.status >= 300:
            raise _map(answer, did=None, action="login")
        return _app_password_grant(answer.body, pds_url)

    async def refresh_session(self, grant: AppPasswordGrant) -> AppPasswordGrant:
        url = f"{grant.pds_url}/xrpc/com.atproto.server.refreshSession"
        headers = {"Authorization": f"Bearer {grant.refresh_token}"}
        answer = await self._send("POST", url, headers, None, did=grant.did, action="refresh")
        if answer.status >= 500:
            raise _map(answer, did=grant.did, action="refresh")
        if answer.status >= 300:
            raise UnauthenticatedError("the PDS session has ended; log in again")
        return _app_password_grant(answer.body, grant.pds_url)

    async def delete_session(self, grant: AppPasswordGrant) -> None:
        url = f"{grant.pds_url}/xrpc/com.atproto.server.deleteSession"
        headers = {"Authorization": f"Bearer {grant.refresh_token}"}
        # The session is dropped on relay's side whether or not the PDS hears about it.
        with contextlib.suppress(PdsUnavailableError):
            await self._send("POST", url, headers, None, did=grant.did, action="logout")

    async def put_record(
        self,
        auth: PdsAuth,
        *,
        collection: str,
        rkey: str,
        record: dict[str, Any],
        swap_record: str | None,
    ) -> RecordRef:
        body: dict[str, Any] = {
            "repo": auth.did, "collection": collection, "rkey": rkey, "record": record,
        }  # fmt: skip
        if swap_record is not None:
            body["swapRecord"] = swap_record
        out = await self._call(auth, "POST", "com.atproto.repo.putRecord", body, "write")
        uri, cid = out.get("uri"), out.get("cid")
        if not isinstance(uri, str) or not isinstance(cid, str):
            raise PdsUnavailableError("PDS write answered without uri and cid", did=auth.did)
        return RecordRef(uri=uri, cid=cid, rev=_commit_rev(out))

    async def delete_record(self, auth: PdsAuth, *, collection: str, rkey: str) -> str | None:
        body = {"repo": auth.did, "collection": collection, "rkey": rkey}
        out = await self._call(auth, "POST", "com.atproto.repo.deleteRecord", body, "delete")
        return _commit_rev(out)


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _app_password_grant(body: dict[str, Any], pds_url: str) -> AppPasswordGrant:
    try:
        return AppPasswordGrant(
            did=str(body["did"]),
            handle=str(body["handle"]),
            pds_url=pds_url,
            access_token=str(body["accessJwt"]),
            refresh_token=str(body["refreshJwt"]),
        )
    except KeyError as exc:
        raise PdsUnavailableError(f"PDS session answer lacks {exc.args[0]}") from None
