"""Executing a document: graphql-core's executor with a shortcut for plain leaf fields.

A page of 100 tracks is about a thousand fields, and nearly all of them are scalars read straight
off a read model (``title``, ``duration`` …: strawberry fields without a resolver). For each,
graphql-core builds a path entry and a resolve-info object, looks for arguments and middleware,
calls strawberry's attribute getter and walks the type wrappers to complete the value — about
5 µs a field, most of an uncached page. ``LeafShortcut`` reads such a field's attribute and
coerces it directly: an object whose selected fields are all plain leaves (a track's ``title
artist duration …``) is answered in one loop; in other objects, each plain leaf field is. The same
goes for a plain attribute holding an object or a list of objects (a connection's ``edges``, an
edge's ``node``) whose own selection is all plain: a page's hundred edges are one walk.

The shortcut only ever produces what the full path would: it is taken for a field with no
resolver and no arguments, of a scalar or enum type or of an object type (or a list of one) whose
value is exactly that strawberry class, when no middleware is installed and nothing is deferred;
a value it cannot finish the same way — ``None`` for a non-null field, an exception, anything the
scalar refuses — sends the object (or field) down the full path, which then reports it as it
always has.
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
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


class _Leaf:
    """How to answer one plain leaf field: the attribute to read, the type that coerces it,
    and the Python type whose values that type answers unchanged (a String's ``str``, a
    Boolean's ``bool``), if any — those skip the coercion call."""

    __slots__ = ("enum", "kind", "name", "names", "nullable", "unchanged")

    def __init__(self, name: str, kind: GraphQLLeafType, *, nullable: bool) -> None:
        self.name, self.kind, self.nullable = name, kind, nullable
        self.unchanged = next((kind_ for scalar, kind_ in _UNCHANGED if scalar is kind), None)
        # A strawberry enum: each member's GraphQL name, as the type itself answers it (it
        # looks through its values for each).
        self.enum: type | None = getattr(kind, "wrapped_cls", None)
        self.names: dict[Any, str] = {}
        try:
            if isinstance(self.enum, type) and issubclass(self.enum, Enum):
                self.names = {member: kind.coerce_output_value(member) for member in self.enum}
            else:
                self.enum = None
        except Exception:  # a member it cannot answer: every value takes the full path
            self.enum, self.names = None, {}


_UNCHANGED: tuple[tuple[GraphQLLeafType, type], ...] = (
    (GraphQLString, str), (GraphQLID, str), (GraphQLBoolean, bool),
)  # fmt: skip


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


_NOT_PLAIN = object()  # an object's fields are not all plain (compared by identity)


class _Fallback(Exception):
    """A value the shortcut cannot answer exactly as the full path would."""


_INT_RANGE = range(-(2**31), 2**31)  # GraphQL's Int


def _leaf_value(leaf: _Leaf, value: Any) -> Any:
    kind = type(value)
    if kind is leaf.unchanged:  # what the scalar's serialize returns for it
        return value
    if kind is leaf.enum:
        return leaf.names[value]
    if kind is int and leaf.kind is GraphQLInt and value in _INT_RANGE:
        return value
    if value is None:
        if leaf.nullable:
            return None
        raise _Fallback
    coerced = leaf.kind.coerce_output_value(value)
    if coerced is None or coerced is Undefined:
        raise _Fallback
    return coerced


class _Nested:
    """A plain attribute holding an object (or a list of objects) of one strawberry type, whose
    selected fields are all plain in turn: answered by walking it, no executor calls."""

    __slots__ = ("is_list", "item_nullable", "name", "nullable", "origin", "plan")

    def __init__(
        self, name: str, origin: type, plan: tuple[Any, ...], *, nullable: bool,
        is_list: bool, item_nullable: bool,
    ) -> None:  # fmt: skip
        self.name, self.origin, self.plan = name, origin, plan
        self.nullable, self.is_list, self.item_nullable = nullable, is_list, item_nullable

    def answer(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise _Fallback
        if not self.is_list:
            return self._object(value)
        if not isinstance(value, list | tuple):
            raise _Fallback
        return [self._item(item) for item in value]

    def _item(self, item: Any) -> Any:
        if item is None:
            if self.item_nullable:
                return None
            raise _Fallback
        return self._object(item)

    def _object(self, value: Any) -> dict[str, Any]:
        if type(value) is not self.origin:  # what strawberry's is_type_of would be asked
            raise _Fallback
        return _answer(self.plan, value)


def _answer(plan: tuple[Any, ...], source: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for response_name, step in plan:
        value = getattr(source, step.name)
        if type(step) is _Leaf:
            # Most leaves are strings: answered as they are, without a call.
            unchanged = type(value) is step.unchanged
            results[response_name] = value if unchanged else _leaf_value(step, value)
        else:
            results[response_name] = step.answer(value)
    return results


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
        # Per field selection (the list graphql-core keeps for it): how to answer it, or None.
        self._fields: dict[int, tuple[object, Any]] = {}

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

    def _step(self, parent_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """How to answer one selected field read straight off its source: a ``_Leaf``, a
        ``_Nested`` object or list, or None (the full path)."""
        known = self._fields.get(id(field_details_list))
        if known is not None and known[0] is field_details_list:
            return known[1]
        node = field_details_list[0].node
        step: Any = self._leaf(parent_type, node)
        if step is None and self._leaves is not None and not node.arguments:
            step = self._nested(parent_type, field_details_list)
        self._fields[id(field_details_list)] = (field_details_list, step)
        return step

    def _nested(self, parent_type: GraphQLObjectType, field_details_list: Any) -> _Nested | None:
        field = parent_type.fields.get(field_details_list[0].node.name.value)
        if field is None or field.args or not getattr(field.resolve, "_is_default", False):
            return None
        definition = (field.extensions or {}).get(_BACKREF)
        if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
            return None
        if definition.default_resolver is not getattr:
            return None
        kind, nullable = field.type, True
        if isinstance(kind, GraphQLNonNull):
            kind, nullable = kind.of_type, False
        is_list, item_nullable = isinstance(kind, GraphQLList), True
        if is_list:
            kind = kind.of_type
            if isinstance(kind, GraphQLNonNull):
                kind, item_nullable = kind.of_type, False
        if not isinstance(kind, GraphQLObjectType):
            return None
        origin = getattr((kind.extensions or {}).get(_BACKREF), "origin", None)
        if origin is None:
            return None
        grouped_field_set, new_defer_usages, _ = self.collect_subfields(kind, field_details_list)
        if new_defer_usages:
            return None
        plan = self._plan(kind, grouped_field_set)
        if plan is _NOT_PLAIN:
            return None
        return _Nested(
            definition.python_name, origin, plan,  # type: ignore[arg-type]
            nullable=nullable, is_list=is_list, item_nullable=item_nullable,
        )  # fmt: skip

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> object:
        known = self._selections.get(id(grouped_field_set))
        if known is not None and known[0] is grouped_field_set:
            return known[1]
        steps: list[tuple[str, Any]] = []
        for response_name, field_details_list in grouped_field_set.items():
            step = self._step(parent_type, field_details_list)
            if step is None:
                steps = []
                break
            steps.append((response_name, step))
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
            try:
                return _answer(plan, source_value)  # type: ignore[arg-type]  # a tuple of steps
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
        step = self._step(parent_type, field_details_list)
        if step is not None:
            try:
                value = getattr(source, step.name)
                if value is not None:  # None: the full path reports or completes it
                    return _leaf_value(step, value) if type(step) is _Leaf else step.answer(value)
            except Exception:  # noqa: S110 — the full path below reports it, located
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
