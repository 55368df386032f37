"""A bound on JSON request bodies (GraphQL documents and variables), declared or chunked: over it,
413 ``PAYLOAD_TOO_LARGE`` before the body is read to the end. Multipart uploads have their own
bounds (``http.uploads``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay.errors import PayloadTooLargeError
from relay.http.graphql_view import error_response


class _TooLarge(Exception):
    pass


class JsonBodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_multipart(scope):
            await self._app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._max:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self._max:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted, watched)
        except _TooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    @staticmethod
    def _is_multipart(scope: Scope) -> bool:
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        return bool(content_type.lower().startswith(b"multipart/"))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLargeError(self._max, what="the request body")
        await error_response(error, 413)(scope, receive, send)
