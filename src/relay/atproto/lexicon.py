"""Record validation driven by the Lexicon documents in ``lexicons/``.

The rules come from the JSON files themselves (the atproto Lexicon spec): there is no second,
hand-written copy of a record's constraints. A ``ref`` (to ``#name`` in the same lexicon, or to
another loaded lexicon such as ``com.atproto.repo.strongRef``) is resolved when the documents are
loaded. Only the schema features relay's lexicons use are
interpreted; a document using anything else is rejected when it is loaded, not silently ignored.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import grapheme

from relay.errors import LexiconError, RecordValidationError

_DATETIME = re.compile(
    r"^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?"
    r"(Z|[+-][0-2][0-9]:[0-5][0-9])$"
)
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+$")
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$")
_NSID = re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+$")

_STRING_KEYS = {
    "type", "description", "format", "minLength", "maxLength", "minGraphemes",
    "maxGraphemes", "enum", "const", "knownValues", "default",
}  # fmt: skip
_INTEGER_KEYS = {"type", "description", "minimum", "maximum", "enum", "const", "default"}
_OBJECT_KEYS = {"type", "description", "required", "nullable", "properties"}
_ARRAY_KEYS = {"type", "description", "items", "minLength", "maxLength"}
_REF_KEYS = {"type", "description", "ref"}
_BLOB_KEYS = {"type", "description", "accept", "maxSize"}
_FORMATS = {"datetime", "uri", "did", "nsid", "at-uri", "cid"}
_MAX_REF_DEPTH = 8
_AT_URI = re.compile(
    r"^at://(did:[a-z]+:[a-zA-Z0-9._:%-]+|[a-zA-Z0-9.-]+)"
    r"(/[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+(/[a-zA-Z0-9._:~-]{1,512})?)?$"
)
# A CID as text: v1 in base32 (multibase "b"), or a v0 base58 multihash.
_CID = re.compile(r"^(b[a-z2-7]{8,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")


def _check_datetime(value: str) -> bool:
    if not _DATETIME.match(value) or value.endswith("-00:00"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "datetime": _check_datetime,
    "uri": lambda v: bool(_URI.match(v)) and len(v) <= 8192,
    "did": lambda v: bool(_DID.match(v)) and len(v) <= 2048,
    "nsid": lambda v: bool(_NSID.match(v)) and len(v) <= 317,
    "at-uri": lambda v: len(v) <= 8192 and bool(_AT_URI.match(v)),
    "cid": lambda v: len(v) <= 128 and bool(_CID.match(v)),
}


def blob_cid(value: object) -> str | None:
    """The CID a blob's ``ref`` names, as text — from a record read as JSON (``{"$link": …}``)
    or decoded from DAG-CBOR (libipld gives a link as the CID's binary form) — or None if it
    names none."""
    if isinstance(value, bytes):
        if not 4 <= len(value) <= 80 or value[0] != 1:  # a CIDv1, of a digest of at most 64 bytes
            return None
        return "b" + base64.b32encode(value).decode().lower().rstrip("=")
    if isinstance(value, dict):
        link = value.get("$link")
        if isinstance(link, str) and _CID.match(link) and len(link) <= 128:
            return link
    return None


def _accepts(patterns: list[str], mime: str) -> bool:
    for pattern in patterns:
        if pattern in ("*/*", mime):
            return True
        if pattern.endswith("/*") and mime.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True)
class RecordSchema:
    """The ``main`` record definition of one lexicon."""

    nsid: str
    key: str
    record: Mapping[str, Any]

    def validate(self, value: object) -> dict[str, Any]:
        """Check ``value`` against the lexicon; return it as a dict or raise with the field path."""
        if not isinstance(value, dict):
            raise RecordValidationError("record must be an object", nsid=self.nsid, path="")
        if value.get("$type") != self.nsid:
            raise RecordValidationError(f"must be {self.nsid!r}", nsid=self.nsid, path="$type")
        self._object(self.record, value, "")
        return value

    def _fail(self, message: str, path: str) -> RecordValidationError:
        return RecordValidationError(message, nsid=self.nsid, path=path)

    def _object(self, schema: Mapping[str, Any], value: Mapping[str, Any], path: str) -> None:
        nullable = set(schema.get("nullable", ()))
        for name in schema.get("required", ()):
            if name not in value or (value[name] is None and name not in nullable):
                raise self._fail("is required", f"{path}{name}")
        for name, prop in schema.get("properties", {}).items():
            if name not in value:
                continue
            item = value[name]
            if item is None:
                if name in nullable:
                    continue
                raise self._fail("must not be null", f"{path}{name}")
            self._value(prop, item, f"{path}{name}")

    def _value(self, schema: Mapping[str, Any], value: object, path: str) -> None:
        kind = schema["type"]
        if kind == "string":
            if not isinstance(value, str):
                raise self._fail("must be a string", path)
            self._string(schema, value, path)
        elif kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._fail("must be an integer", path)
            self._integer(schema, value, path)
        elif kind == "object":
            if not isinstance(value, dict):
                raise self._fail("must be an object", path)
            self._object(schema, value, f"{path}.")
        elif kind == "array":
            if not isinstance(value, list):
                raise self._fail("must be an array", path)
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                raise self._fail(f"must hold at most {schema['maxLength']} items", path)
            if "minLength" in schema and len(value) < schema["minLength"]:
                raise self._fail(f"must hold at least {schema['minLength']} items", path)
            for i, item in enumerate(value):
                self._value(schema["items"], item, f"{path}[{i}]")
        elif kind == "blob":
            self._blob(schema, value, path)
        else:  # pragma: no cover - rejected at load time
            raise LexiconError(f"unsupported type {kind!r}")

    def _blob(self, schema: Mapping[str, Any], value: object, path: str) -> None:
        if not isinstance(value, dict) or value.get("$type") != "blob":
            raise self._fail("must be a blob", path)
        mime, size = value.get("mimeType"), value.get("size")
        if not isinstance(mime, str) or len(mime) > 128:
            raise self._fail("must name its mimeType", path)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise self._fail("must give its size", path)
        if blob_cid(value.get("ref")) is None:
            raise self._fail("must reference its content by CID", path)
        if "maxSize" in schema and size > schema["maxSize"]:
            raise self._fail(f"must be at most {schema['maxSize']} bytes", path)
        if "accept" in schema and not _accepts(schema["accept"], mime):
            raise self._fail(f"must be one of {', '.join(schema['accept'])}", path)

    def _string(self, schema: Mapping[str, Any], value: str, path: str) -> None:
        size = len(value.encode("utf-8"))
        if "maxLength" in schema and size > schema["maxLength"]:
            raise self._fail(f"must be at most {schema['maxLength']} bytes (UTF-8)", path)
        if "minLength" in schema and size < schema["minLength"]:
            raise self._fail(f"must be at least {schema['minLength']} bytes (UTF-8)", path)
        if _graphemes_matter(schema, value):
            count: int = grapheme.length(value)
            if "maxGraphemes" in schema and count > schema["maxGraphemes"]:
                raise self._fail(f"must be at most {schema['maxGraphemes']} characters", path)
            if "minGraphemes" in schema and count < schema["minGraphemes"]:
                raise self._fail(f"must be at least {schema['minGraphemes']} characters", path)
        if "enum" in schema and value not in schema["enum"]:
            raise self._fail(f"must be one of {', '.join(schema['enum'])}", path)
        if "const" in schema and value != schema["const"]:
            raise self._fail(f"must be {schema['const']!r}", path)
        fmt = schema.get("format")
        if fmt is not None and not _FORMAT_CHECKS[fmt](value):
            raise self._fail(f"is not a valid {fmt}", path)

    def _integer(self, schema: Mapping[str, Any], value: int, path: str) -> None:
        if "minimum" in schema and value < schema["minimum"]:
            raise self._fail(f"must be at least {schema['minimum']}", path)
        if "maximum" in schema and value > schema["maximum"]:
            raise self._fail(f"must be at most {schema['maximum']}", path)
        if "enum" in schema and value not in schema["enum"]:
            raise self._fail(f"must be one of {schema['enum']}", path)
        if "const" in schema and value != schema["const"]:
            raise self._fail(f"must be {schema['const']}", path)


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
            if doc.get("lexicon") != 1 or not isinstance(nsid, str) or not _NSID.match(nsid):
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


def _graphemes_matter(schema: Mapping[str, Any], value: str) -> bool:
    """Whether the grapheme bounds need counting (slow): a string has at most as many grapheme
    clusters as code points, and a non-empty one at least one."""
    high, low = schema.get("maxGraphemes"), schema.get("minGraphemes")
    return (high is not None and len(value) > high) or (
        low is not None and low > (1 if value else 0)
    )
