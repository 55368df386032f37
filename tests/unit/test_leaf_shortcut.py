"""The executor's shortcut for plain leaf fields (``graphql/execution.py``) answers exactly what
graphql-core's full path answers — data and errors — for any query of a schema that has every
kind of field the shortcut must take or refuse: generated queries, run both ways."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, NewType

import pytest
import strawberry
from hypothesis import given, settings
from hypothesis_graphql import from_schema
from strawberry.schema.config import StrawberryConfig

from relay.graphql import execution
from relay.graphql.execution import LeafShortcut

Odd = NewType("Odd", str)
CONFIG = StrawberryConfig(
    scalar_map={
        Odd: strawberry.scalar(
            name="Odd",
            serialize=lambda value: None if value == "void" else value,  # a scalar giving up
            parse_value=str,
        )
    }
)


@strawberry.enum
class Kind(enum.Enum):
    MP3 = "mp3"
    FLAC = "flac"


@strawberry.type
class Pair:
    left: str
    right: int | None
    hole: str  # holds None in one pair although declared non-null


@strawberry.type
class Impostor:  # a value of another type where a Pair is declared
    left: str
    right: int | None
    hole: str


@strawberry.type
class Item:
    name: str
    note: str | None
    count: int
    big: int  # beyond GraphQL Int: the scalar refuses it
    ratio: float | None
    kind: Kind
    when: datetime
    missing: str  # holds None although declared non-null: an error, located
    wrong: int  # holds a string: the scalar refuses it
    odd: Odd  # its scalar answers None for one item
    pair: Pair  # plain attributes holding objects and lists of them
    maybe: Pair | None
    pairs: list[Pair]
    loose: list[Pair | None] | None
    strange: Pair  # holds an Impostor for one item

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * max(0, min(times, 3))

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("broken on purpose")

    @strawberry.field
    def child(self) -> Item | None:
        return None if self.count > 1 else make(self.count + 1)


def make(n: int) -> Item:
    return Item(
        name=f"item {n}",
        note=None if n % 2 else f"note {n}",
        count=n,
        big=2**40 if n == 2 else n,
        ratio=None if n == 1 else n / 3,
        kind=Kind.FLAC if n % 2 else Kind.MP3,
        when=datetime(2026, 1, n + 1, tzinfo=UTC),
        missing=None if n == 1 else "here",  # type: ignore[arg-type]  # on purpose
        wrong="seven" if n == 3 else n,  # type: ignore[arg-type]  # on purpose
        odd=Odd("void" if n == 0 else f"odd {n}"),
        pair=Pair(left=f"l{n}", right=n, hole="h"),
        maybe=None if n % 2 else Pair(left="m", right=None, hole="h"),
        pairs=[
            Pair(left=f"p{i}", right=i, hole=None if (n, i) == (2, 1) else "h")  # type: ignore[arg-type]
            for i in range(3)
        ],
        loose=None if n == 3 else [None, Pair(left="x", right=None, hole="h")],
        strange=Impostor(left="i", right=1, hole="h")
        if n == 1
        else Pair(left="s", right=2, hole="h"),  # type: ignore[arg-type]
    )


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [make(n) for n in range(4)]

    @strawberry.field
    def first(self) -> Item:
        return make(0)


FULL = strawberry.Schema(query=Query, config=CONFIG)
SHORT = strawberry.Schema(query=Query, config=CONFIG, execution_context_class=LeafShortcut)


def answer(schema: strawberry.Schema, query: str) -> tuple[Any, list[tuple[str, Any]]]:
    result = schema.execute_sync(query)
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors


@settings(max_examples=300, deadline=None)
@given(from_schema(FULL.as_str()))
def test_generated_queries_answer_the_same_both_ways(query: str) -> None:
    assert answer(SHORT, query) == answer(FULL, query)


def test_the_shortcut_is_taken_and_errors_stay_where_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[str] = []
    original = execution._Nested.answer

    def answer_counted(self: Any, value: Any) -> Any:
        walked.append(self.name)
        return original(self, value)

    monkeypatch.setattr(execution._Nested, "answer", answer_counted)
    query = "{ items { name note count big kind when missing wrong ratio shout(times: 2) } }"
    data, errors = answer(SHORT, query)
    assert answer(FULL, query) == (data, errors)
    # Item 1's non-null `missing` is null, and items is a non-null list of non-null Items: the
    # error nulls everything up to the root — as graphql-core says.
    assert data is None
    assert any("Cannot return null for non-nullable field Item.missing" in m for m, _ in errors)
    refused = answer(SHORT, "{ items { big } }")
    assert refused == answer(FULL, "{ items { big } }")
    assert refused[1] == [
        ("Int cannot represent non 32-bit signed integer value: 1099511627776", ["items", 2, "big"])
    ]
    shortcuts = LeafShortcut._schemas.get(SHORT._schema)
    assert shortcuts, "the shortcut was never considered"
    taken = {leaf.name for leaf in shortcuts.values() if leaf is not None}
    assert {"name", "note", "count", "kind", "when"} <= taken
    assert "shout" not in taken and "broken" not in taken
    nested = "{ items { pair { left right } maybe { left } pairs { left right } loose { left } } }"
    data, errors = answer(SHORT, nested)
    assert (data, errors) == answer(FULL, nested)
    assert errors == []
    assert {"pair", "maybe", "pairs", "loose"} <= set(walked), "nested objects were not walked"
    assert data["items"][1] == {
        "pair": {"left": "l1", "right": 1}, "maybe": None,
        "pairs": [{"left": f"p{i}", "right": i} for i in range(3)],
        "loose": [None, {"left": "x"}],
    }  # fmt: skip
    broken = "{ items { pairs { hole } } }"
    assert answer(SHORT, broken) == answer(FULL, broken)
    assert answer(SHORT, broken)[1] != []
    # Another class where a Pair is declared: the shortcut leaves it to the full path.
    strange = "{ items { strange { left } } }"
    assert answer(SHORT, strange) == answer(FULL, strange)
    data, errors = answer(SHORT, "{ first { name note count kind when ratio } }")
    assert errors == []
    assert data == {
        "first": {"name": "item 0", "note": "note 0", "count": 0, "kind": "MP3",
                  "when": "2026-01-01T00:00:00+00:00", "ratio": 0.0},
    }  # fmt: skip
