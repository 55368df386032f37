"""The ``/graphql`` endpoint: Strawberry's ASGI view with relay's context and streaming uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cross_web import HTTPException
from cross_web.request._starlette import StarletteRequestAdapter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.schema import BaseSchema
from strawberry.types.unset import UNSET

from relay.errors import PayloadTooLargeError, RelayError
from relay.graphql.context import RelayContext, Services, session_token
from relay.http.uploads import MAX_FIELD_BYTES, PREFLIGHT_HEADERS, UploadStaging

PREFLIGHT_MESSAGE = (
    "multipart uploads must carry a header that forces a CORS preflight, such as "
    "'Apollo-Require-Preflight: true' (or 'X-Apollo-Operation-Name' / 'GraphQL-Preflight: 1'); "
    "this keeps other web sites from posting uploads with your cookies"
)


class _RequestAdapter(StarletteRequestAdapter):
    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.starlette_request = request


def error_response(error: RelayError, status: int) -> JSONResponse:
    """A GraphQL-shaped error outside execution (e.g. a rejected upload body)."""
    body = {
        "data": None,
        "errors": [{"message": error.message, "extensions": {"code": error.code}}],
    }
    headers = {"Connection": "close"} if status == 413 else None
    return JSONResponse(body, status_code=status, headers=headers)


class RelayGraphQL(GraphQL[RelayContext, None]):
    request_adapter_class = _RequestAdapter

    def __init__(self, schema: BaseSchema, *, staging_dir: Path, max_upload_bytes: int) -> None:
        super().__init__(schema, graphql_ide=None, multipart_uploads_enabled=True)
        self._staging_dir = staging_dir
        self._max_upload_bytes = max_upload_bytes

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RelayContext:
        services: Services = request.app.state.services
        return RelayContext(
            request=request, response=response, services=services, token=session_token(request)
        )

    async def run(
        self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET
    ) -> Any:
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        staging = UploadStaging(self._staging_dir, self._max_upload_bytes)
        request.state.upload_staging = staging
        try:
            return await super().run(request, context, root_value)
        except PayloadTooLargeError as exc:
            return error_response(exc, 413)
        except RelayError as exc:
            return error_response(exc, 400)
        finally:
            await staging.cleanup()

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        starlette_request: Request = request.starlette_request
        headers = starlette_request.headers
        if not any(name in headers for name in PREFLIGHT_HEADERS):
            raise HTTPException(400, PREFLIGHT_MESSAGE)
        declared = headers.get("content-length")
        if (
            declared
            and declared.isdigit()
            and int(declared) > self._max_upload_bytes + MAX_FIELD_BYTES
        ):
            # Refuse before reading a byte of a body that announces itself as too large.
            raise PayloadTooLargeError(self._max_upload_bytes)
        staging: UploadStaging = starlette_request.state.upload_staging
        parsed = await staging.parse(headers.get("content-type", ""), starlette_request.stream())
        try:
            result: dict[str, str] = replace_placeholders_with_files(
                parsed.operations, parsed.files_map, parsed.files
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise HTTPException(400, "'map' names a variable path that does not exist") from exc
        return result
