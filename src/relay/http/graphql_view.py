"""The ``/graphql`` endpoint: Strawberry's ASGI view with relay's context and streaming uploads."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.schema import BaseSchema
from strawberry.types.unset import UNSET

from relay.errors import PayloadTooLargeError, RelayError, UnauthenticatedError
from relay.graphql.context import RelayContext, session_token
from relay.http.state import relay_of
from relay.http.uploads import PREFLIGHT_HEADERS, MultipartBounds, UploadStaging, staging_dir

PREFLIGHT_MESSAGE = (
    "multipart uploads must carry a header that forces a CORS preflight, such as "
    "'Apollo-Require-Preflight: true' (or 'X-Apollo-Operation-Name' / 'GraphQL-Preflight: 1'); "
    "this keeps other web sites from posting uploads with your cookies"
)


@dataclass(frozen=True)
class _HttpRequest:
    """The request being run and where its files are staged (Strawberry's multipart hook only
    receives its own adapter, so the view hands these over through a context variable)."""

    request: Request
    staging: UploadStaging


_current: ContextVar[_HttpRequest] = ContextVar("relay_graphql_request")


def error_response(error: RelayError, status: int) -> JSONResponse:
    """A GraphQL-shaped error outside execution (e.g. a rejected upload body)."""
    body = {
        "data": None,
        "errors": [{"message": error.message, "extensions": {"code": error.code}}],
    }
    headers = {"Connection": "close"} if status == 413 else None
    return JSONResponse(body, status_code=status, headers=headers)


class RelayGraphQL(GraphQL[RelayContext, None]):
    def __init__(self, schema: BaseSchema, *, bounds: MultipartBounds) -> None:
        super().__init__(schema, graphql_ide=None, multipart_uploads_enabled=True)
        self._bounds = bounds

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RelayContext:
        return RelayContext(
            request=request,
            response=response,
            services=relay_of(request).services,
            token=session_token(request),
        )

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Any:
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        staging = UploadStaging(
            staging_dir(relay_of(request).settings.data_dir / "tmp"), self._bounds
        )
        token = _current.set(_HttpRequest(request, staging))
        try:
            return await super().run(request, context, root_value)
        except PayloadTooLargeError as exc:
            return error_response(exc, 413)
        except UnauthenticatedError as exc:
            return error_response(exc, 401)
        except RelayError as exc:
            return error_response(exc, 400)
        finally:
            _current.reset(token)
            await staging.cleanup()

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        current = _current.get()
        headers = current.request.headers
        if not any(name in headers for name in PREFLIGHT_HEADERS):
            raise HTTPException(400, PREFLIGHT_MESSAGE)
        # Only a signed-in caller may make relay stage files: checked before a byte is read.
        token = session_token(current.request)
        if token is None:
            raise UnauthenticatedError("sign in before uploading: send 'Authorization: Bearer …'")
        await relay_of(current.request).services.sessions.authenticate(token)
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._bounds.max_body_bytes:
            # Refuse before reading a byte of a body that announces itself as too large.
            raise PayloadTooLargeError(self._bounds.max_file_bytes)
        parsed = await current.staging.parse(
            headers.get("content-type", ""), current.request.stream()
        )
        try:
            result: dict[str, str] = replace_placeholders_with_files(
                parsed.operations, parsed.files_map, parsed.files
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise HTTPException(400, "'map' names a variable path that does not exist") from exc
        return result
