"""Bounds on what one GraphQL document may ask, checked before anything runs.

Strawberry's own extensions bound the depth (``QueryDepthLimiter``), the aliases
(``MaxAliasesLimiter``) and the tokens (``MaxTokensLimiter``); relay adds a cost rule that
multiplies by list sizes, so the most expensive document allowed stays cheap. A refused document
gets ``extensions: {code: QUERY_TOO_COMPLEX, limit: depth | aliases | tokens | cost, max: N}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    default_page_size: int
    max_page_size: int

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        """Strawberry extensions enforcing these limits (a fresh one per operation)."""
        # The rules are made once (strawberry's limiters make a new rule class per instance):
        # the same rules for every request let a document's verdict be kept (``prepared``).
        rules = [
            *QueryDepthLimiter(max_depth=self.max_depth).validation_rules,
            *MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules,
            cost_rule(self),
            OneLoginPerOperation,
        ]
        return [
            lambda: MaxTokensLimiter(max_token_count=self.max_tokens),
            lambda: AddValidationRules(rules),
        ]


def query_cost(
    selections: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    limits: QueryLimits,
    seen: frozenset[str] = frozenset(),
) -> int:
    """Every field counts once for each item of every list around it; a list's size is its
    ``first``/``last`` (a variable counts as the largest page, none as the default one)."""
    total = 0
    for node in selections.selections:
        if isinstance(node, FieldNode):
            inner = 0
            if node.selection_set:
                inner = query_cost(node.selection_set, fragments, limits, seen)
            size = _page_size(node, limits)
            total += size * (1 + inner) if size else 1 + inner
        elif isinstance(node, InlineFragmentNode):
            total += query_cost(node.selection_set, fragments, limits, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in seen:
                total += query_cost(fragments[name].selection_set, fragments, limits, seen | {name})
    return total


def _is_page(node: FieldNode, arguments: Mapping[str, object]) -> bool:
    """A connection: it takes ``first``/``last``, or it is asked for ``edges`` (Relay's shape)."""
    if any(name in arguments for name in PAGE_ARGUMENTS):
        return True
    selections = node.selection_set.selections if node.selection_set else ()
    return any(isinstance(s, FieldNode) and s.name.value == "edges" for s in selections)


def _page_size(node: FieldNode, limits: QueryLimits) -> int:
    """The page size a connection field asks for; 0 for a field that is not a page."""
    arguments = {a.name.value: a.value for a in node.arguments or ()}
    if not _is_page(node, arguments):
        return 0
    for name in PAGE_ARGUMENTS:
        value = arguments.get(name)
        if isinstance(value, IntValueNode):
            return max(0, min(int(value.value), limits.max_page_size))
        if value is not None:
            return limits.max_page_size
    return limits.default_page_size


def cost_rule(limits: QueryLimits) -> type[ValidationRule]:
    class QueryCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                cost = query_cost(definition.selection_set, fragments, limits)
                if cost > limits.max_cost:
                    context.report_error(
                        GraphQLError(
                            f"the query costs {cost}, more than the limit of {limits.max_cost} "
                            "(each field counts once per item of the pages around it)",
                            [definition],
                            extensions={
                                "code": TOO_COMPLEX,
                                "limit": "cost",
                                "max": limits.max_cost,
                            },
                        )
                    )

    return QueryCostRule


class OneLoginPerOperation(ValidationRule):
    """A document may sign in once: many aliased ``login`` fields would make as many password
    attempts at a PDS from relay's address."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        for definition in context.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                logins = _count_fields(definition.selection_set, "login", context)
                if logins > 1:
                    context.report_error(
                        GraphQLError(
                            f"{logins} login fields: one operation may sign in once",
                            [definition],
                            extensions={"code": TOO_COMPLEX, "limit": "logins", "max": 1},
                        )
                    )


def _count_fields(
    selections: SelectionSetNode,
    name: str,
    context: ValidationContext,
    seen: frozenset[str] = frozenset(),
) -> int:
    """Root fields called ``name`` (aliased or not), through fragments."""
    count = 0
    for node in selections.selections:
        if isinstance(node, FieldNode):
            count += node.name.value == name
        elif isinstance(node, InlineFragmentNode):
            count += _count_fields(node.selection_set, name, context, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            fragment = context.get_fragment(node.name.value)
            if fragment is not None:
                count += _count_fields(
                    fragment.selection_set, name, context, seen | {node.name.value}
                )
    return count


# Strawberry's limiters say which limit in their messages; relay gives them stable codes.
_STRAWBERRY_LIMITS = (
    (re.compile(r"exceeds maximum operation depth of (\d+)"), "depth"),
    (re.compile(r"aliases found\. Allowed: (\d+)"), "aliases"),
    (re.compile(r"more than (\d+) tokens"), "tokens"),
)


def limit_extensions(message: str) -> dict[str, object] | None:
    """The extensions for an error one of Strawberry's limiters reported, else None."""
    for pattern, limit in _STRAWBERRY_LIMITS:
        found = pattern.search(message)
        if found:
            return {"code": TOO_COMPLEX, "limit": limit, "max": int(found.group(1))}
    return None
