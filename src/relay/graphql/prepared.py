"""Documents parsed and validated once: the same query text (the same few documents, sent again
and again by every client of an app) is neither parsed nor validated twice.

Validation does not see variables, and relay's own rules (depth, aliases, cost, one login) judge
only the document — a variable page size counts as the largest page — so a document's verdict
holds for every request that sends it. Kept in a ``BoundedLru`` by count and by an estimate of
the parsed tree's size (outside input fills it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension

from relay.lru import BoundedLru

TREE_BYTES_PER_CHAR = 40
"""About what a parsed document's objects take per character of its text."""


class PreparedDocuments:
    def __init__(self, *, entries: int = 2000, total_bytes: int = 16 * 2**20) -> None:
        self.documents: BoundedLru[str, DocumentNode] = BoundedLru(
            entries=entries, total=total_bytes
        )
        self.verdicts: BoundedLru[str, list[GraphQLError]] = BoundedLru(
            entries=entries, total=total_bytes
        )

    def extension(self) -> Callable[[], SchemaExtension]:
        """A strawberry extension factory using this memo."""
        memo = self

        class Prepared(SchemaExtension):
            def on_parse(self) -> Iterator[None]:
                context = self.execution_context
                query = context.query
                if query is not None and (document := memo.documents.get(query)) is not None:
                    context.graphql_document = document  # strawberry skips its parse
                    yield
                    return
                yield
                if query is not None and context.graphql_document is not None:
                    memo.documents.put(query, context.graphql_document, _size(query))

            def on_validate(self) -> Iterator[None]:
                context = self.execution_context
                query = context.query
                if query is not None and (errors := memo.verdicts.get(query)) is not None:
                    context.pre_execution_errors = errors  # strawberry skips its validation
                    yield
                    return
                yield
                if query is not None and context.pre_execution_errors is not None:
                    memo.verdicts.put(query, context.pre_execution_errors, _size(query))

        return Prepared


def _size(query: str) -> int:
    return 1024 + TREE_BYTES_PER_CHAR * len(query)
