"""Record validation driven by the Lexicon documents in ``lexicons/``.

The rules come from the JSON files themselves (the atproto Lexicon spec): there is no second,
hand-written copy of a record's constraints. Only the schema features relay's lexicons use are
interpreted; a document using anything else is rejected when it is loaded, not silently ignored.
"""

from __future__ import annotations

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
_FORMATS = {"datetime", "uri", "did", "nsid"}


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
}


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
        else:  # pragma: no cover - rejected at load time
            raise LexiconError(f"unsupported type {kind!r}")

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
    kind = schema.get("type")
    allowed = {"string": _STRING_KEYS, "integer": _INTEGER_KEYS, "object": _OBJECT_KEYS}
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


class LexiconCatalog:
    """Record schemas loaded from a directory laid out by NSID (``app/relay/track.json``)."""

    def __init__(self, schemas: Mapping[str, RecordSchema]) -> None:
        self._schemas = dict(schemas)

    @classmethod
    def load(cls, root: Path) -> LexiconCatalog:
        schemas: dict[str, RecordSchema] = {}
        for path in sorted(root.rglob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            nsid = doc.get("id")
            if doc.get("lexicon") != 1 or not isinstance(nsid, str) or not _NSID.match(nsid):
                raise LexiconError(f"{path}: not a lexicon v1 document with a valid id")
            expected = root.joinpath(*nsid.split(".")).with_suffix(".json")
            if expected.resolve() != path.resolve():
                raise LexiconError(f"{path}: id {nsid} must live at {expected}")
            main = doc.get("defs", {}).get("main", {})
            if main.get("type") != "record":
                continue
            _check_supported(main["record"], f"{nsid}#main")
            schemas[nsid] = RecordSchema(nsid=nsid, key=main["key"], record=main["record"])
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
