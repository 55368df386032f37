"""What a document selects below the field being resolved — asked where knowing it saves work."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, those in fragments (spread or inline) included."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def selects_edge_cursor(info: strawberry.Info[Any, Any]) -> bool:
    """Whether the connection being resolved is asked for ``edges { cursor }`` anywhere in the
    document (under any alias, in any fragment): if not, a page's cursors need not be encoded
    one per edge."""
    for connection in info.selected_fields:
        for edges in _fields(connection.selections):
            if edges.name == "edges" and any(
                field.name == "cursor" for field in _fields(edges.selections)
            ):
                return True
    return False
