"""Executing a document: graphql-core's executor with a shortcut for plain leaf fields.

A page of 100 tracks is about a thousand fields, and nearly all of them are scalars read straight
off a read model (``title``, ``duration`` …: strawberry fields without a resolver). For each,
graphql-core builds a resolve-info object, looks for arguments and middleware, calls strawberry's
attribute getter and walks the type wrappers to complete the value — about 5 µs a field, most of
an uncached page. ``LeafShortcut`` reads such a field's attribute and coerces it directly.

The shortcut only ever produces what the full path would: it is taken for a field with no
resolver, no arguments and a scalar or enum type (nullable or not) when no middleware is
installed; a value it cannot finish the same way — ``None``, an exception, anything the scalar
refuses — goes down the full path, which then reports it as it always has.
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
    GraphQLString,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
Shortcut = tuple[str, GraphQLLeafType] | None
_UNKNOWN: Shortcut = ("", GraphQLString)  # not looked at yet (compared by identity)


def _plain_leaf(field: GraphQLField) -> Shortcut:
    """(attribute name, leaf type) when ``field`` is read straight off its source object."""
    definition = (field.extensions or {}).get(_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if definition.default_resolver is not getattr:  # what strawberry's basic field calls
        return None
    if field.args or not getattr(field.resolve, "_is_default", False):
        return None
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not is_leaf_type(kind):
        return None
    return definition.python_name, kind


class LeafShortcut(StrawberryGraphQLCoreExecutionContext):
    # Per schema, per field (by id: a schema's fields live as long as it): the field's shortcut
    # or None, found on first use; a dict read is all a later request pays.
    _schemas: WeakKeyDictionary[GraphQLSchema, dict[int, Shortcut]] = WeakKeyDictionary()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shortcuts = self._schemas.get(self.schema)
        if shortcuts is None:
            shortcuts = self._schemas.setdefault(self.schema, {})
        manager = self.middleware_manager
        # Middleware wraps every resolver: with any, every field takes the full path.
        self._shortcuts = None if manager is not None and manager.middlewares else shortcuts

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        field = parent_type.fields.get(node.name.value)
        shortcuts = self._shortcuts
        if field is not None and shortcuts is not None and not node.arguments:
            shortcut = shortcuts.get(id(field), _UNKNOWN)
            if shortcut is _UNKNOWN:
                shortcut = shortcuts[id(field)] = _plain_leaf(field)
            if shortcut is not None:
                name, kind = shortcut
                try:
                    value = getattr(source, name)
                    if value is not None:
                        coerced = kind.coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            return coerced
                except Exception:  # noqa: S110 — the full path below reports it, located
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
