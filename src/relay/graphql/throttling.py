"""What every mutation goes through, in one place: it is refused over WebSockets (a socket a page
of another site opened would carry the user's cookie), and it counts against the caller's rate
limit (``mutations_per_caller``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from relay.errors import ForbiddenError
from relay.graphql.context import RelayContext


class MutationRateLimit(SchemaExtension):
    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        # Other fields pass straight through (no coroutine per field on the read path).
        if info.parent_type.name == "Mutation" and info.path.prev is None:
            return self._counted(_next, root, info, *args, **kwargs)
        return _next(root, info, *args, **kwargs)

    @staticmethod
    async def _counted(
        _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        context: RelayContext = info.context
        if isinstance(context.request, WebSocket):
            raise ForbiddenError("mutations are accepted over HTTP only, not over WebSockets")
        await context.throttle("mutations_per_caller", await context.caller_key())
        result = _next(root, info, *args, **kwargs)
        if isinstance(result, Awaitable):
            return await result
        return result
