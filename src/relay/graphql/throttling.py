"""What every mutation goes through, in one place: it is refused over WebSockets (a socket a page
of another site opened would carry the user's cookie), and it counts against the caller's rate
limit (``mutations_per_caller``).

A field extension on each field of ``Mutation`` (``throttle_mutations``, applied by the schema's
builder), not a schema-wide ``resolve`` hook: that would wrap every field of every query — 900
calls for one page of 100 tracks — to act on a handful."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket
from strawberry.extensions import FieldExtension
from strawberry.types.base import StrawberryObjectDefinition

from relay.errors import ForbiddenError
from relay.graphql.context import RelayContext


class MutationRateLimit(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        raise TypeError("mutations are async: their rate limit is checked before they run")

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        context: RelayContext = info.context
        if isinstance(context.request, WebSocket):
            raise ForbiddenError("mutations are accepted over HTTP only, not over WebSockets")
        await context.throttle("mutations_per_caller", await context.caller_key())
        return await next_(source, info, **kwargs)


def throttle_mutations(mutation: type) -> None:
    """Give every field of the ``mutation`` type the rate limit (once; before a schema is built
    from it)."""
    definition: StrawberryObjectDefinition = mutation.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        if not any(isinstance(extension, MutationRateLimit) for extension in field.extensions):
            field.extensions.append(MutationRateLimit())
