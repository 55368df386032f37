"""Which artists a cached answer is about — so it stays valid while other artists' tracks change.

A query whose every root field asks about named artists — ``track(uri)`` and ``node(id)`` (the
artist in the URI), ``artist(did)``, ``tracks(where: {artistDid})`` — reads only those artists'
tracks, provided every field it selects is one that reads nothing else (``ONE_ARTIST_FIELDS``,
reviewed; a test holds the schema to it). Anything else — another root field, a field not
reviewed, a fragment at the root, a value that is not a DID — is about the whole index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    visit,
)
from graphql.language import Visitor
from strawberry.relay import GlobalID

from relay.db.index_version import Scope

# Fields below the root that read only the tracks of the artist the root field is about, by the
# type that has them. A field added to one of these types, or a new type reachable from them,
# fails tests/unit/test_cache_scope.py until it is reviewed here: a field that reads other
# artists' data (a like count, another artist's list) must stay out.
ONE_ARTIST_FIELDS: Mapping[str, frozenset[str]] = {
    "Track": frozenset(
        [
            "id",
            "uri",
            "rkey",
            "cid",
            "title",
            "artist",
            "album",
            "audioUrl",
            "imageUrl",
            "fileType",
            "duration",
            "createdAt",
            "indexedAt",
            "artistDid",
            "artistHandle",
            "publishState",
            "publishError",
            "audioHost",
            "record",
            "playable",
            "artistProfile",
        ]
    ),
    # A profile's changes move its artist's version too (migration 0014).
    "Artist": frozenset(
        {
            "did",
            "handle",
            "trackCount",
            "totalDuration",
            "tracks",
            "displayName",
            "description",
            "avatarUrl",
        }
    ),
    "TrackConnection": frozenset({"edges", "pageInfo", "totalCount"}),
    "TrackEdge": frozenset({"cursor", "node"}),
    "PageInfo": frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}),
}
# Fields of those types reviewed and found to read beyond the artist — likes and lists are
# records of other accounts (or hold other artists' tracks): an answer that selects one is
# about the whole index.
WHOLE_INDEX_FIELDS: Mapping[str, frozenset[str]] = {
    "Track": frozenset({"likeCount", "viewerHasLiked", "likes", "lists"}),
    "Artist": frozenset({"lists"}),
}
# Root fields about named artists: the argument that names them, and what kind of value it is.
_ROOTS: Mapping[str, tuple[str, str]] = {
    "track": ("uri", "uri"), "node": ("id", "node"), "artist": ("did", "did"),
    "tracks": ("where", "where"),
}  # fmt: skip
_KNOWN = frozenset().union(*ONE_ARTIST_FIELDS.values(), _ROOTS, {"__typename"})
_MAX_DID = 256


@dataclass(frozen=True)
class _Ref:
    """Where a root field names its artist: which kind of value, and the value or variable."""

    kind: str  # uri | node | did | where
    literal: Any = None
    variable: str | None = None

    def value(self, variables: Mapping[str, Any]) -> Any:
        return variables.get(self.variable) if self.variable is not None else self.literal


@dataclass(frozen=True)
class ScopePlan:
    """A document's scope, to be completed with each request's variables."""

    refs: tuple[_Ref, ...] | None  # None: the whole index

    def scope(self, variables: Mapping[str, Any]) -> Scope:
        if self.refs is None:
            return None
        dids: set[str] = set()
        for ref in self.refs:
            did = _did_of(ref.kind, ref.value(variables))
            if did is None:
                return None
            dids.add(did)
        return frozenset(dids) if dids else None


WHOLE_INDEX = ScopePlan(None)


def plan_scope(document: DocumentNode, operation: OperationDefinitionNode) -> ScopePlan:
    """The scope plan of ``operation`` (a query of ``document``)."""
    if not _only_known_fields(document):
        return WHOLE_INDEX
    refs: list[_Ref] = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            return WHOLE_INDEX  # a fragment at the root: not worth following
        name = selection.name.value
        if name == "__typename":
            continue
        ref = _root_ref(name, {a.name.value: a.value for a in selection.arguments or ()})
        if ref is None:
            return WHOLE_INDEX
        refs.append(ref)
    return ScopePlan(tuple(refs)) if refs else WHOLE_INDEX


def _root_ref(name: str, arguments: dict[str, ValueNode]) -> _Ref | None:
    if name not in _ROOTS:
        return None
    argument, kind = _ROOTS[name]
    if argument not in arguments or (name == "artist" and "handle" in arguments):
        return None
    value = arguments[argument]
    if isinstance(value, VariableNode):
        return _Ref(kind, variable=value.name.value)
    if kind == "where":
        if not isinstance(value, ObjectValueNode):
            return None
        fields = {f.name.value: f.value for f in value.fields}
        inner = fields.get("artistDid")
        if isinstance(inner, VariableNode):
            return _Ref("did", variable=inner.name.value)
        if isinstance(inner, StringValueNode):
            return _Ref("did", literal=inner.value)
        return None
    if isinstance(value, StringValueNode):
        return _Ref(kind, literal=value.value)
    return None


def _did_of(kind: str, value: Any) -> str | None:
    """The DID ``value`` names, or None when it names none (then: the whole index)."""
    if kind == "where":
        value = value.get("artistDid") if isinstance(value, dict) else None
        kind = "did"
    if not isinstance(value, str):
        return None
    if kind == "node":
        try:
            global_id = GlobalID.from_id(value)
        except Exception:  # not a global ID: the answer is null, about nobody
            return None
        if global_id.type_name != "Track":
            return None
        value, kind = str(global_id.node_id), "uri"
    if kind == "uri":
        if not value.startswith("at://"):
            return None
        value = value[len("at://") :].split("/", 1)[0]
    did: str = value
    if not did.startswith("did:") or len(did) > _MAX_DID or "/" in did:
        return None
    return did


def _only_known_fields(document: DocumentNode) -> bool:
    names: set[str] = set()

    class Names(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            names.add(node.name.value)

    visit(document, Names())
    return names <= _KNOWN
