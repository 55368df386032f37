"""Writes to a user's PDS with the atproto SDK's async client.

``PdsClient`` is the I/O boundary services use; ``SdkPdsClient`` is the production implementation.
Access tokens are refreshed when they are about to expire (the SDK checks the JWT's ``exp``) and,
once, when the PDS rejects them as expired or invalid; refreshed tokens are handed back through
``on_refresh`` so the caller can persist them. SDK exceptions are mapped onto relay's error tree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from atproto_client import AsyncClient, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    NetworkError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import AsyncRequest

from relay.errors import (
    BadUserInputError,
    ConflictError,
    PdsUnavailableError,
    RelayError,
    UnauthenticatedError,
)


@dataclass(frozen=True)
class PdsCredentials:
    """An app-password session at a PDS. Never logged: ``repr`` hides the tokens."""

    did: str
    handle: str
    pds_url: str
    access_jwt: str
    refresh_jwt: str

    def __repr__(self) -> str:
        return f"PdsCredentials(did={self.did!r}, handle={self.handle!r}, pds_url={self.pds_url!r})"


@dataclass(frozen=True)
class RecordRef:
    uri: str
    cid: str


OnRefresh = Callable[[PdsCredentials], Awaitable[None]]


class PdsClient(Protocol):
    async def create_session(
        self, pds_url: str, identifier: str, password: str
    ) -> PdsCredentials: ...

    async def delete_session(self, credentials: PdsCredentials) -> None: ...

    async def put_record(
        self,
        credentials: PdsCredentials,
        *,
        collection: str,
        rkey: str,
        record: dict[str, Any],
        swap_record: str | None,
        on_refresh: OnRefresh,
    ) -> RecordRef: ...

    async def delete_record(
        self,
        credentials: PdsCredentials,
        *,
        collection: str,
        rkey: str,
        on_refresh: OnRefresh,
    ) -> None: ...


def _error_name(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return str(content.error or "") if isinstance(content, XrpcError) else ""


def _error_message(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    if isinstance(content, XrpcError):
        return str(content.message or content.error or "error")
    return str(type(exc).__name__)


def _status(exc: RequestErrorBase) -> int | None:
    return exc.response.status_code if exc.response is not None else None


def _is_token_rejection(exc: AtProtocolError) -> bool:
    if isinstance(exc, UnauthorizedError):
        return True
    return isinstance(exc, BadRequestError) and _error_name(exc) in ("ExpiredToken", "InvalidToken")


def map_pds_error(exc: Exception, *, did: str | None, action: str) -> RelayError:
    """Translate an SDK failure into relay's error tree."""
    if isinstance(exc, RequestErrorBase):
        status = _status(exc)
        name = _error_name(exc)
        if isinstance(exc, NetworkError) or status is None or status >= 500 or status == 429:
            detail = f"HTTP {status}" if status else "unreachable"
            return PdsUnavailableError(f"PDS {action} failed: {detail}", did=did)
        if name == "InvalidSwap":
            return ConflictError(
                "the record on the PDS changed since relay last saw it; reload and try again"
            )
        if _is_token_rejection(exc) or name == "AuthenticationRequired":
            return UnauthenticatedError(f"the PDS refused the session ({_error_message(exc)})")
        return BadUserInputError(f"the PDS rejected the {action}: {_error_message(exc)}")
    return PdsUnavailableError(f"PDS {action} failed: {exc.__class__.__name__}", did=did)


class SdkPdsClient:
    """``PdsClient`` on the atproto SDK's ``AsyncClient``; one short-lived client per call."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout

    def _client(self, pds_url: str) -> AsyncClient:
        return AsyncClient(base_url=pds_url, request=AsyncRequest(timeout=self._timeout))

    async def create_session(self, pds_url: str, identifier: str, password: str) -> PdsCredentials:
        client = self._client(pds_url)
        try:
            await client.login(identifier, password, fetch_bsky_profile=False)
        except AtProtocolError as exc:
            if isinstance(exc, RequestErrorBase) and _status(exc) in (400, 401):
                raise UnauthenticatedError("invalid identifier or password") from exc
            raise map_pds_error(exc, did=None, action="login") from exc
        finally:
            await client.request.close()
        session = client._session
        assert session is not None
        return PdsCredentials(
            did=session.did,
            handle=session.handle,
            pds_url=pds_url,
            access_jwt=session.access_jwt,
            refresh_jwt=session.refresh_jwt,
        )

    async def delete_session(self, credentials: PdsCredentials) -> None:
        client = self._client(credentials.pds_url)
        try:
            await client.com.atproto.server.delete_session(
                headers={"Authorization": f"Bearer {credentials.refresh_jwt}"},
                ignore_session_check=True,
            )
        except AtProtocolError:
            pass  # the session is being dropped either way
        finally:
            await client.request.close()

    async def _authorized(
        self, credentials: PdsCredentials, on_refresh: OnRefresh, action: str,
        call: Callable[[AsyncClient], Awaitable[Any]],
    ) -> Any:  # fmt: skip
        client = self._client(credentials.pds_url)
        current = credentials

        async def remember(_event: object, session: Any) -> None:
            nonlocal current
            if session.access_jwt != current.access_jwt:
                current = replace(
                    current, access_jwt=session.access_jwt, refresh_jwt=session.refresh_jwt
                )
                await on_refresh(current)

        try:
            await client.login(
                session_string=_session_string(credentials), fetch_bsky_profile=False
            )
            client.on_session_change(remember)
            try:
                return await call(client)
            except AtProtocolError as exc:
                if not _is_token_rejection(exc):
                    raise
                await client._refresh_and_set_session()
                return await call(client)
        except AtProtocolError as exc:
            raise map_pds_error(exc, did=credentials.did, action=action) from exc
        finally:
            await client.request.close()

    async def put_record(
        self,
        credentials: PdsCredentials,
        *,
        collection: str,
        rkey: str,
        record: dict[str, Any],
        swap_record: str | None,
        on_refresh: OnRefresh,
    ) -> RecordRef:
        data = models.ComAtprotoRepoPutRecord.Data(
            repo=credentials.did,
            collection=collection,
            rkey=rkey,
            record=record,
            swap_record=swap_record,
            validate_=None,
        )

        async def call(client: AsyncClient) -> RecordRef:
            out = await client.com.atproto.repo.put_record(data)
            return RecordRef(uri=out.uri, cid=out.cid)

        result: RecordRef = await self._authorized(credentials, on_refresh, "write", call)
        return result

    async def delete_record(
        self,
        credentials: PdsCredentials,
        *,
        collection: str,
        rkey: str,
        on_refresh: OnRefresh,
    ) -> None:
        data = models.ComAtprotoRepoDeleteRecord.Data(
            repo=credentials.did, collection=collection, rkey=rkey
        )

        async def call(client: AsyncClient) -> None:
            await client.com.atproto.repo.delete_record(data)

        await self._authorized(credentials, on_refresh, "delete", call)


def _session_string(credentials: PdsCredentials) -> str:
    from atproto_client.client.session import Session

    session = Session(
        handle=credentials.handle,
        did=credentials.did,
        access_jwt=credentials.access_jwt,
        refresh_jwt=credentials.refresh_jwt,
        pds_endpoint=credentials.pds_url,
    )
    return str(session.encode())
