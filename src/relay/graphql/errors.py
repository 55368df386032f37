"""Errors at the GraphQL edge: every error leaves with a stable ``extensions.code``.

``RelayError`` keeps its message and maps to its code; errors from GraphQL itself (syntax,
validation, variable coercion) are ``BAD_USER_INPUT``; anything else is logged with its traceback
and masked as ``INTERNAL``.
"""

from __future__ import annotations

import logging

from strawberry.extensions import MaskErrors

from graphql.error import GraphQLError
from relay.errors import ErrorCode, RelayError

log = logging.getLogger("relay.graphql")


def _with_code(error: GraphQLError, message: str, code: ErrorCode) -> GraphQLError:
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**(error.extensions or {}), "code": code.value},
    )


def coded_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, RelayError):
        return _with_code(error, original.message, original.code)
    if original is None or isinstance(original, GraphQLError):
        return _with_code(error, error.message, ErrorCode.BAD_USER_INPUT)
    log.error(
        "unexpected error at %s",
        error.path,
        exc_info=(type(original), original, original.__traceback__),
    )
    return _with_code(error, "Internal server error", ErrorCode.INTERNAL)


class ErrorCodes(MaskErrors):
    """``MaskErrors`` with relay's codes instead of one blanket message."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [coded_error(error) for error in errors]
