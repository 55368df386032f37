"""Record validation driven by the Lexicon documents in ``lexicons/``.

The rules come from the JSON files themselves (the atproto Lexicon spec): there is no second,
hand-written copy of a record's constraints. A ``ref`` (to ``#name`` in the same lexicon, or to
another loaded lexicon such as ``com.atproto.repo.strongRef``) is resolved when the documents are
loaded. Only the schema features relay's lexicons use are
interpreted; a document using anything else is rejected when it is loaded, not silently ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from relay.atproto.lexicon_checks import FORMAT_CHECKS, NSID, blob_cid, object_check
from relay.errors import LexiconError, RecordValidationError

__all__ = ["LexiconCatalog", "RecordSchema", "blob_cid", "default_lexicon_dir"]

_STRING_KEYS = {
    "type", "description", "format", "minLength", "maxLength", "minGraphemes",
    "maxGraphemes", "enum", "const", "knownValues", "default",
}  # fmt: skip
_INTEGER_KEYS = {"type", "description", "minimum", "maximum", "enum", "const", "default"}
_OBJECT_KEYS = {"type", "description", "required", "nullable", "properties"}
_ARRAY_KEYS = {"type", "description", "items", "minLength", "maxLength"}
_REF_KEYS = {"type", "description", "ref"}
_BLOB_KEYS = {"type", "description", "accept", "maxSize"}
_FORMATS = frozenset(FORMAT_CHECKS)
_MAX_REF_DEPTH = 8


@dataclass(frozen=True)
class RecordSchema:
    """The ``main`` record definition of one lexicon."""

    nsid: str
    key: str
    record: Mapping[str, Any]
    # The record's check, compiled from ``record`` once (lexicon_checks).
    _fields: Callable[[Mapping[str, Any], str], None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fields", object_check(self.record, self._fail))

    def validate(self, value: object) -> dict[str, Any]:
        """Check ``value`` against the lexicon; return it as a dict or raise with the field path."""
        if not isinstance(value, dict):
            raise RecordValidationError("record must be an object", nsid=self.nsid, path="")
        if value.get("$type") != self.nsid:
            raise RecordValidationError(f"must be {self.nsid!r}", nsid=self.nsid, path="$type")
        self._fields(value, "")
        return value

    def _fail(self, message: str, path: str) -> RecordValidationError:
        return RecordValidationError(message, nsid=self.nsid, path=path)


def _check_supported(schema: Mapping[str, Any], where: str) -> None:
    """Refuse what the validator does not interpret (refs are resolved before this)."""
    kind = schema.get("type")
    allowed = {
        "string": _STRING_KEYS, "integer": _INTEGER_KEYS, "object": _OBJECT_KEYS,
        "array": _ARRAY_KEYS, "blob": _BLOB_KEYS,
    }  # fmt: skip
    if kind not in allowed:
        raise LexiconError(f"{where}: type {kind!r} is not supported by relay's validator")
    unknown = set(schema) - allowed[kind]
    if unknown:
        raise LexiconError(f"{where}: unsupported keys {sorted(unknown)}")
    if kind == "string" and schema.get("format") not in (None, *_FORMATS):
        raise LexiconError(f"{where}: unsupported string format {schema['format']!r}")
    if kind == "object":
        for name, prop in schema.get("properties", {}).items():
            _check_supported(prop, f"{where}.{name}")
    if kind == "array":
        if not isinstance(schema.get("items"), Mapping):
            raise LexiconError(f"{where}: an array needs its items' schema")
        _check_supported(schema["items"], f"{where}[]")


Defs = Mapping[tuple[str, str], Mapping[str, Any]]


def _resolved(schema: Mapping[str, Any], nsid: str, defs: Defs, where: str, depth: int = 0) -> Any:
    """``schema`` with every ``ref`` replaced by the definition it names (``#name`` in this
    lexicon, ``other.nsid#name``, or ``other.nsid`` for its ``main``)."""
    if depth > _MAX_REF_DEPTH:
        raise LexiconError(f"{where}: refs nest deeper than {_MAX_REF_DEPTH}")
    kind = schema.get("type")
    if kind == "ref":
        unknown = set(schema) - _REF_KEYS
        ref = schema.get("ref")
        if unknown or not isinstance(ref, str):
            raise LexiconError(f"{where}: a ref needs a 'ref' string and nothing else")
        target_nsid, _, name = ref.partition("#")
        key = (target_nsid or nsid, name or "main")
        if key not in defs:
            raise LexiconError(f"{where}: ref {ref!r} names no loaded definition")
        return _resolved(defs[key], key[0], defs, f"{where}->{ref}", depth + 1)
    if kind == "object":
        properties = {
            name: _resolved(prop, nsid, defs, f"{where}.{name}", depth)
            for name, prop in schema.get("properties", {}).items()
        }
        return {**schema, "properties": properties}
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return {**schema, "items": _resolved(schema["items"], nsid, defs, f"{where}[]", depth)}
    return schema


class LexiconCatalog:
    """Record schemas loaded from a directory laid out by NSID (``app/relay/track.json``)."""

    def __init__(self, schemas: Mapping[str, RecordSchema]) -> None:
        self._schemas = dict(schemas)

    @classmethod
    def load(cls, root: Path) -> LexiconCatalog:
        docs: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            nsid = doc.get("id")
            if doc.get("lexicon") != 1 or not isinstance(nsid, str) or not NSID.match(nsid):
                raise LexiconError(f"{path}: not a lexicon v1 document with a valid id")
            expected = root.joinpath(*nsid.split(".")).with_suffix(".json")
            if expected.resolve() != path.resolve():
                raise LexiconError(f"{path}: id {nsid} must live at {expected}")
            docs[nsid] = doc
        defs = {
            (nsid, name): definition
            for nsid, doc in docs.items()
            for name, definition in doc.get("defs", {}).items()
        }
        schemas: dict[str, RecordSchema] = {}
        for nsid, doc in docs.items():
            main = doc.get("defs", {}).get("main", {})
            if main.get("type") != "record":
                continue  # e.g. com.atproto.repo.strongRef: used through refs
            record = _resolved(main["record"], nsid, defs, f"{nsid}#main")
            _check_supported(record, f"{nsid}#main")
            schemas[nsid] = RecordSchema(nsid=nsid, key=main["key"], record=record)
        return cls(schemas)

    def schema(self, nsid: str) -> RecordSchema:
        try:
            return self._schemas[nsid]
        except KeyError:
            raise LexiconError(f"no record lexicon for {nsid}") from None

    def validate(self, nsid: str, value: object) -> dict[str, Any]:
        return self.schema(nsid).validate(value)

    def properties(self, nsid: str) -> Mapping[str, Any]:
        """The record's property schemas, e.g. to list a field's allowed values."""
        return dict(self.schema(nsid).record["properties"])


def default_lexicon_dir() -> Path:
    """The lexicons shipped inside the package (a copy of the repository's ``lexicons/``)."""
    return Path(str(files("relay").joinpath("lexicons")))
