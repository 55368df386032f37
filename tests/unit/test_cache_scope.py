"""Which artists a cached answer is about (``http/cache_scope.py``): named artists only when every
root field names them and every selected field is reviewed; the whole index otherwise. And the
schema held to the review: every field reachable from a one-artist root is in the list."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, OperationDefinitionNode, parse
from strawberry.relay import GlobalID

from relay.graphql.schema import build_schema
from relay.http.cache_scope import ONE_ARTIST_FIELDS, WHOLE_INDEX_FIELDS, plan_scope

ADA, BO = "did:plc:" + "a" * 24, "did:plc:" + "b" * 24
URI = f"at://{ADA}/app.relay.track/3kaaaaaaaaaaa"


def scope(document: str, variables: dict[str, Any] | None = None) -> frozenset[str] | None:
    ast = parse(document)
    operation = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
    return plan_scope(ast, operation).scope(variables or {})


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        (f'{{ track(uri: "{URI}") {{ title artistProfile {{ trackCount }} }} }}', None, {ADA}),
        ("query($u: String!) { track(uri: $u) { title } }", {"u": URI}, {ADA}),
        (f'{{ artist(did: "{BO}") {{ handle tracks(first: 5) {{ edges {{ node {{ uri }} }} }} }}}}',
         None, {BO}),
        ("query($w: TrackFilter) { tracks(first: 3, where: $w) { totalCount } }",
         {"w": {"artistDid": BO, "search": "x"}}, {BO}),
        ("query($d: String) { tracks(where: {artistDid: $d}) { pageInfo { endCursor } } }",
         {"d": ADA}, {ADA}),
        (f'{{ a: track(uri: "{URI}") {{ uri }} b: artist(did: "{BO}") {{ did }} __typename }}',
         None, {ADA, BO}),
        ("query($id: ID!) { node(id: $id) { id ... on Track { title } } }",
         {"id": str(GlobalID("Track", URI))}, {ADA}),
    ],
)  # fmt: skip
def test_answers_about_named_artists(
    document: str, variables: dict[str, Any] | None, expected: set[str]
) -> None:
    assert scope(document, variables) == frozenset(expected)


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ("{ tracks(first: 5) { edges { node { title } } } }", None),  # every artist
        ('{ tracks(where: {search: "blue"}) { totalCount } }', None),
        ('{ artist(handle: "ada.test") { did } }', None),  # a handle can move between DIDs
        (f'{{ track(uri: "{URI}") {{ title }} instance {{ maxUploadBytes }} }}', None),
        ("query($u: String!) { track(uri: $u) { title } }", {"u": "at://ada.test/x/y"}),
        ("query($u: String!) { track(uri: $u) { title } }", {}),  # no value: not about anyone
        ("query($id: ID!) { node(id: $id) { id } }", {"id": "not a global id"}),
        (f'{{ track(uri: "{URI}") {{ title nonsense }} }}', None),  # a field not reviewed
        (f'{{ track(uri: "{URI}") {{ title likeCount }} }}', None),  # others' likes
        (f'{{ artist(did: "{BO}") {{ tracks {{ edges {{ node {{ viewerHasLiked }} }} }} }} }}',
         None),
        (f'{{ ...F }} fragment F on Query {{ track(uri: "{URI}") {{ title }} }}', None),
        ("query($d: String) { tracks(where: {artistDid: $d}) { totalCount } }",
         {"d": "did:plc:x/../y"}),
    ],
)  # fmt: skip
def test_everything_else_is_about_the_whole_index(
    document: str, variables: dict[str, Any] | None
) -> None:
    assert scope(document, variables) is None


def _object(kind: Any) -> GraphQLObjectType | None:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind if isinstance(kind, GraphQLObjectType) else None


def test_every_field_reachable_from_a_one_artist_root_is_reviewed() -> None:
    """A new field on Track or Artist (or on a type they lead to) must be reviewed in
    ``ONE_ARTIST_FIELDS``: does it read only that artist's tracks? If it reads anyone else's
    (likes, lists), it stays out, and answers selecting it are about the whole index."""
    schema = build_schema()._schema
    roots = schema.query_type
    assert roots is not None
    reachable: dict[str, set[str]] = {}
    pending = [_object(roots.fields[name].type) for name in ("track", "artist", "tracks")]
    while pending:
        kind = pending.pop()
        if kind is None or kind.name in reachable:
            continue
        reachable[kind.name] = set(kind.fields)
        beyond = WHOLE_INDEX_FIELDS.get(kind.name, frozenset())
        pending += [_object(f.type) for name, f in kind.fields.items() if name not in beyond]
    reviewed = {
        name: set(fields) | WHOLE_INDEX_FIELDS.get(name, frozenset())
        for name, fields in ONE_ARTIST_FIELDS.items()
    }
    assert reachable == reviewed
