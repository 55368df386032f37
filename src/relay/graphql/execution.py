"""Executing a document: graphql-core's executor with a shortcut for plain leaf fields.

A page of 100 tracks is about a thousand fields, and nearly all of them are scalars read straight
off a read model (``title``, ``duration`` …: strawberry fields without a resolver). For each,
graphql-core builds a path entry and a resolve-info object, looks for arguments and middleware,
calls strawberry's attribute getter and walks the type wrappers to complete the value — about
5 µs a field, most of an uncached page. ``LeafShortcut`` reads such a field's attribute and
coerces it directly: an object whose selected fields are all plain leaves (a track's ``title
artist duration …``) is answered in one loop; in other objects, each plain leaf field is.

The shortcut only ever produces what the full path would: it is taken for a field with no
resolver, no arguments and a scalar or enum type (nullable or not) when no middleware is
installed; a value it cannot finish the same way — ``None`` for a non-null field, an exception,
anything the scalar refuses — sends the object (or field) down the full path, which then reports
it as it always has.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


class _Leaf:
    """How to answer one plain leaf field: the attribute to read, the type that coerces it."""

    __slots__ = ("kind", "name", "nullable")

    def __init__(self, name: str, kind: GraphQLLeafType, *, nullable: bool) -> None:
        self.name, self.kind, self.nullable = name, kind, nullable


def _plain_leaf(field: GraphQLField) -> _Leaf | None:
    """How to answer ``field`` when it is read straight off its source object."""
    definition = (field.extensions or {}).get(_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if definition.default_resolver is not getattr:  # what strawberry's basic field calls
        return None
    if field.args or not getattr(field.resolve, "_is_default", False):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(kind):
        return None
    return _Leaf(definition.python_name, kind, nullable=nullable)


_NOT_PLAIN = object()  # an object's fields are not all plain leaves (compared by identity)


class LeafShortcut(StrawberryGraphQLCoreExecutionContext):
    # Per schema, per field (by id: a schema's fields live as long as it): how to answer it, or
    # None; found on first use, a dict read is all a later request pays.
    _schemas: WeakKeyDictionary[GraphQLSchema, dict[int, _Leaf | None]] = WeakKeyDictionary()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        leaves = self._schemas.get(self.schema)
        if leaves is None:
            leaves = self._schemas.setdefault(self.schema, {})
        manager = self.middleware_manager
        # Middleware wraps every resolver: with any, every field takes the full path.
        self._leaves = None if manager is not None and manager.middlewares else leaves
        # Per selection (graphql-core makes one per field and type, reused for every object of a
        # list in this request): its fields' answers, or _NOT_PLAIN.
        self._selections: dict[int, tuple[object, object]] = {}

    def _leaf(self, parent_type: GraphQLObjectType, node: Any) -> _Leaf | None:
        leaves = self._leaves
        if leaves is None or node.arguments:
            return None
        field = parent_type.fields.get(node.name.value)
        if field is None:  # __typename and other meta fields
            return None
        try:
            return leaves[id(field)]
        except KeyError:
            leaf = leaves[id(field)] = _plain_leaf(field)
            return leaf

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> object:
        known = self._selections.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        steps: list[tuple[str, _Leaf]] = []
        for response_name, field_details_list in grouped_field_set.items():
            leaf = self._leaf(parent_type, field_details_list[0].node)
            if leaf is None:
                steps = []
                break
            steps.append((response_name, leaf))
        plan: object = tuple(steps) if steps else _NOT_PLAIN
        self._selections[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not _NOT_PLAIN:
            results: dict[str, Any] = {}
            try:
                for response_name, leaf in plan:  # type: ignore[attr-defined]  # a tuple of steps
                    value = getattr(source_value, leaf.name)
                    if value is None:
                        if not leaf.nullable:
                            break
                        results[response_name] = None
                        continue
                    coerced = leaf.kind.coerce_output_value(value)
                    if coerced is None or coerced is Undefined:
                        break
                    results[response_name] = coerced
                else:
                    return results
            except Exception:  # noqa: S110 — the full path below reports it, located
                pass
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        leaf = self._leaf(parent_type, field_details_list[0].node)
        if leaf is not None:
            try:
                value = getattr(source, leaf.name)
                if value is not None:
                    coerced = leaf.kind.coerce_output_value(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: S110 — the full path below reports it, located
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
