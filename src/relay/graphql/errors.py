"""Errors at the GraphQL edge: every error leaves with a stable ``extensions.code``.

A ``RelayError`` keeps its message and carries its code (graphql-core copies the original error's
``extensions``). Strawberry's ``MaskErrors`` handles every other error: errors from GraphQL itself
(syntax, validation, variable coercion) keep their message as ``BAD_USER_INPUT``; anything else is
logged with its traceback and masked as ``INTERNAL``.
"""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from relay.errors import ErrorCode, RelayError
from relay.graphql.limits import limit_extensions

log = logging.getLogger("relay.graphql")

INTERNAL_MESSAGE = "Internal server error"


def has_no_code(error: GraphQLError) -> bool:
    """What ``MaskErrors`` rewrites: every error that does not come from a ``RelayError``."""
    return not isinstance(error.original_error, RelayError)


def coded_error(error: GraphQLError) -> GraphQLError:
    """A GraphQL error with relay's code: the message kept for GraphQL's own errors, masked for
    anything unexpected (logged here, where the original exception is still known)."""
    original = error.original_error
    if isinstance(original, RelayError):
        return error
    if original is None or isinstance(original, GraphQLError):
        limit = limit_extensions(error.message)
        if limit is not None or "code" in (error.extensions or {}):
            # A refused document (a limit): its own code, which limit and its value.
            return _recoded(error, error.message, {**(error.extensions or {}), **(limit or {})})
        message, code = error.message, ErrorCode.BAD_USER_INPUT
    else:
        log.error(
            "unexpected error at %s",
            error.path,
            exc_info=(type(original), original, original.__traceback__),
        )
        message, code = INTERNAL_MESSAGE, ErrorCode.INTERNAL
    return _recoded(error, message, {**(error.extensions or {}), "code": code.value})


def _recoded(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorCodes(MaskErrors):
    """``MaskErrors`` that masks with relay's codes instead of one blanket message."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=has_no_code, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return coded_error(error)
