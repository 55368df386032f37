"""The schema, assembled in one place."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.types import ExecutionContext

from relay.graphql.errors import ErrorCodes
from relay.graphql.execution import LeafShortcut
from relay.graphql.limits import QueryLimits
from relay.graphql.mutations import Mutation
from relay.graphql.prepared import PreparedDocuments
from relay.graphql.queries import Query
from relay.graphql.subscriptions import Subscription
from relay.graphql.throttling import throttle_mutations


class RelaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Logging happens in ``ErrorCodes``, where the original exception is still known."""


def build_schema(limits: QueryLimits | None = None) -> strawberry.Schema:
    """The schema; with ``limits``, documents over them are refused before anything runs."""
    bounds = [] if limits is None else limits.extensions()
    throttle_mutations(Mutation)
    return RelaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[ErrorCodes, *bounds, PreparedDocuments().extension()],
        execution_context_class=LeafShortcut,
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"


__all__: list[Any] = ["build_schema", "export_sdl"]
