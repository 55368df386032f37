"""The ``/graphql`` endpoint: Strawberry's ASGI view with relay's context and streaming uploads."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.types.unset import UNSET

from relay import jsonc
from relay.errors import (
    PayloadTooLargeError,
    PersistedQueryNotFoundError,
    RelayError,
    UnauthenticatedError,
)
from relay.graphql.context import RelayContext, session_token
from relay.http.persisted_queries import PersistedQueries
from relay.http.response_cache import Entry, Lookup, ResponseCache
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
    def __init__(
        self,
        schema: BaseSchema,
        *,
        bounds: MultipartBounds,
        cache: ResponseCache | None = None,
        get_max_age: int = 5,
    ) -> None:
        super().__init__(schema, graphql_ide=None, multipart_uploads_enabled=True)
        self._bounds = bounds
        self._cache = cache if cache is not None and cache.enabled else None
        self._persisted = PersistedQueries()
        self._get_max_age = get_max_age
        # Cache misses being computed, by key and index version: identical requests arriving
        # meanwhile (a burst after a write) wait for that answer instead of computing it too.
        self._in_flight: dict[tuple[str, object], asyncio.Future[Entry | None]] = {}

    def encode_json(self, data: object) -> str:
        # Text, not bytes: the WebSocket protocols send what this returns, and graphql-ws
        # clients read text frames only.
        return jsonc.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return jsonc.loads(data)
        except ValueError as exc:  # e.g. nested too deeply: refused like any other bad JSON
            raise json.JSONDecodeError(str(exc), "", 0) from None

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
            lookup = await self._cached(request)
            if lookup is None:
                return await super().run(request, context, root_value)
            if lookup.hit is not None:
                return self._answer(request, lookup.hit, "hit", shared=lookup.keep)
            flight = (lookup.key, lookup.version)
            if (leader := self._in_flight.get(flight)) is not None:
                # The same answer is being computed: wait for it rather than compute it again.
                entry = await asyncio.shield(leader)
                if entry is not None:
                    return self._answer(request, entry, "shared", shared=lookup.keep)
                return await super().run(request, context, root_value)  # it was not kept
            if not lookup.keep:
                return await super().run(request, context, root_value)
            computing: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
            self._in_flight[flight] = computing
            try:
                response = await super().run(request, context, root_value)
                entry = None
                if isinstance(response, Response) and response.status_code == 200:
                    entry = self._cache.keep(lookup, bytes(response.body)) if self._cache else None
                computing.set_result(entry)
            finally:
                if not computing.done():
                    computing.set_result(None)
                del self._in_flight[flight]
            if entry is not None:
                return self._answer(request, entry, "miss", shared=True)
            return response
        except PersistedQueryNotFoundError as exc:
            return error_response(exc, 200)  # Apollo clients then send the document
        except PayloadTooLargeError as exc:
            return error_response(exc, 413)
        except UnauthenticatedError as exc:
            return error_response(exc, 401)
        except RelayError as exc:
            return error_response(exc, 400)
        finally:
            _current.reset(token)
            await staging.cleanup()

    async def _cached(self, request: Request) -> Lookup | None:
        """The cache entry of a query (None when it is not one to cache): an anonymous one, or a
        signed-in caller's about other artists only."""
        if self._cache is None:
            return None
        try:
            if request.method == "GET":
                params = request.query_params
                query: Any = {
                    "query": params.get("query"),
                    "variables": orjson.loads(params.get("variables") or "{}"),
                    "operationName": params.get("operationName"),
                    "extensions": orjson.loads(params.get("extensions") or "{}"),
                }
            elif request.headers.get("content-type", "").startswith("application/json"):
                query = orjson.loads(await request.body())
            else:
                return None
            if not isinstance(query, dict):
                return None
            query = self._persisted.resolve(query)
        except (orjson.JSONDecodeError, RelayError):
            return None  # the request is answered (or refused) the usual way
        viewer: str | None = None
        if (token := session_token(request)) is not None:
            cacheable, scope = self._cache.scope(query)
            if not cacheable or scope is None:
                return None  # not without knowing whose drafts are in it: not looked up
            try:
                viewer = (await relay_of(request).services.sessions.authenticate(token)).did
            except UnauthenticatedError:
                return None  # answered (refused) the usual way
        index_version = relay_of(request).index_version
        await index_version.refresh()
        return self._cache.lookup(query, index_version.token, viewer=viewer)

    def _answer(self, request: Request, entry: Entry, how: str, *, shared: bool) -> Response:
        """A kept answer; for GET, cacheable by browsers (and, asked anonymously, by CDNs) for a
        few seconds, and a 304 when the client already holds it."""
        headers = {"ETag": entry.etag, "X-Relay-Cache": how, "Vary": "Authorization, Cookie"}
        if request.method != "GET":
            return Response(entry.body, media_type="application/json", headers=headers)
        headers["Cache-Control"] = (
            f"{'public' if shared else 'private'}, max-age={self._get_max_age}"
        )
        if entry.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(entry.body, media_type="application/json", headers=headers)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """The request's data, with an automatic persisted query's document filled in."""
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and data.extensions:
            resolved = self._persisted.resolve({"query": data.query, "extensions": data.extensions})
            data = dataclasses.replace(data, query=resolved["query"])
        return data

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
