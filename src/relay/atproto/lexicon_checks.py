"""A record schema turned into checking functions, once, when its lexicon is loaded.

Interpreting the schema for every record (looking up ``maxLength``, ``enum``, ``format`` … in
dicts, and building each field's path) cost about half of a backfilled record's validation; a
compiled check reads its bounds from its closure and builds a path only to report a failure.
What is checked, and every message, is what the Lexicon spec asks of the schema features relay's
lexicons use (``lexicon._check_supported`` refuses the others).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import grapheme

from relay.errors import LexiconError, RecordValidationError

Fail = Callable[[str, str], RecordValidationError]  # (message, path) -> the error to raise
Check = Callable[[object, str], None]  # (value, its path) -> None, or raises

_DATETIME = re.compile(
    r"^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?"
    r"(Z|[+-][0-2][0-9]:[0-5][0-9])\Z"
)
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+\Z")
_DID = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]\Z")
NSID = re.compile(r"^[a-zA-Z]([a-zA-Z0-9-]{0,62})?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})?)+\Z")
_AT_URI = re.compile(
    r"^at://(did:[a-z]+:[a-zA-Z0-9._:%-]+|[a-zA-Z0-9.-]+)"
    r"(/[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+(/[a-zA-Z0-9._:~-]{1,512})?)?\Z"
)
# A CID as text: v1 in base32 (multibase "b"), or a v0 base58 multihash.
_CID = re.compile(r"^(b[a-z2-7]{8,}|Qm[1-9A-HJ-NP-Za-km-z]{44})\Z")
_ABSENT = object()


def _check_datetime(value: str) -> bool:
    if not _DATETIME.match(value) or value.endswith("-00:00"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def is_cid(value: str) -> bool:
    """Whether ``value`` is a CID as text (at most 128 characters: what the index keeps)."""
    return len(value) <= 128 and bool(_CID.match(value))


FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "datetime": _check_datetime,
    "uri": lambda v: bool(_URI.match(v)) and len(v) <= 8192,
    "did": lambda v: bool(_DID.match(v)) and len(v) <= 2048,
    "nsid": lambda v: bool(NSID.match(v)) and len(v) <= 317,
    "at-uri": lambda v: len(v) <= 8192 and bool(_AT_URI.match(v)),
    "cid": is_cid,
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
        if isinstance(link, str) and is_cid(link):
            return link
    return None


def _accepts(patterns: list[str], mime: str) -> bool:
    for pattern in patterns:
        if pattern in ("*/*", mime):
            return True
        if pattern.endswith("/*") and mime.startswith(pattern[:-1]):
            return True
    return False


def compile_check(schema: Mapping[str, Any], fail: Fail) -> Check:
    """The check of a value against ``schema`` (refs already resolved)."""
    kind = schema["type"]
    if kind == "string":
        return _string(schema, fail)
    if kind == "integer":
        return _integer(schema, fail)
    if kind == "object":
        fields = object_check(schema, fail)

        def check_object(value: object, path: str) -> None:
            if not isinstance(value, dict):
                raise fail("must be an object", path)
            fields(value, f"{path}.")

        return check_object
    if kind == "array":
        return _array(schema, fail)
    if kind == "blob":
        return _blob(schema, fail)
    raise LexiconError(f"unsupported type {kind!r}")  # pragma: no cover - refused when loaded


def object_check(schema: Mapping[str, Any], fail: Fail) -> Callable[[Mapping[str, Any], str], None]:
    """The check of an object's fields (the value is known to be a dict); ``path`` is the
    prefix of its fields' paths."""
    nullable = frozenset(schema.get("nullable", ()))
    required = tuple(schema.get("required", ()))
    fields = tuple(
        (name, compile_check(prop, fail), name in nullable)
        for name, prop in schema.get("properties", {}).items()
    )

    def check(value: Mapping[str, Any], path: str) -> None:
        for name in required:
            if name not in value or (value[name] is None and name not in nullable):
                raise fail("is required", f"{path}{name}")
        for name, check_field, may_be_null in fields:
            item = value.get(name, _ABSENT)
            if item is _ABSENT:
                continue
            if item is None:
                if may_be_null:
                    continue
                raise fail("must not be null", f"{path}{name}")
            check_field(item, path + name)

    return check


def _string(schema: Mapping[str, Any], fail: Fail) -> Check:
    most, least = schema.get("maxLength"), schema.get("minLength")
    high, low = schema.get("maxGraphemes"), schema.get("minGraphemes")
    enum = frozenset(schema["enum"]) if "enum" in schema else None
    enum_text = ", ".join(schema.get("enum", ()))
    const = schema.get("const", _ABSENT)
    fmt = schema.get("format")
    fmt_check = FORMAT_CHECKS[fmt] if fmt is not None else None

    def check(value: object, path: str) -> None:
        if not isinstance(value, str):
            raise fail("must be a string", path)
        length = len(value)
        if not value.isascii():
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError:  # a lone surrogate: JSON can hold one, text cannot
                raise fail("must be valid Unicode text", path) from None
        else:
            size = length
        if most is not None and size > most:
            raise fail(f"must be at most {most} bytes (UTF-8)", path)
        if least is not None and size < least:
            raise fail(f"must be at least {least} bytes (UTF-8)", path)
        # Grapheme clusters are counted only when the bounds could be crossed (slow): a string
        # has at most as many as code points, and a non-empty one at least one.
        if (high is not None and length > high) or (low is not None and low > (1 if value else 0)):
            count: int = grapheme.length(value)
            if high is not None and count > high:
                raise fail(f"must be at most {high} characters", path)
            if low is not None and count < low:
                raise fail(f"must be at least {low} characters", path)
        if enum is not None and value not in enum:
            raise fail(f"must be one of {enum_text}", path)
        if const is not _ABSENT and value != const:
            raise fail(f"must be {const!r}", path)
        if fmt_check is not None and not fmt_check(value):
            raise fail(f"is not a valid {fmt}", path)

    return check


def _integer(schema: Mapping[str, Any], fail: Fail) -> Check:
    least, most = schema.get("minimum"), schema.get("maximum")
    enum = schema.get("enum")
    const = schema.get("const", _ABSENT)

    def check(value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("must be an integer", path)
        if least is not None and value < least:
            raise fail(f"must be at least {least}", path)
        if most is not None and value > most:
            raise fail(f"must be at most {most}", path)
        if enum is not None and value not in enum:
            raise fail(f"must be one of {enum}", path)
        if const is not _ABSENT and value != const:
            raise fail(f"must be {const}", path)

    return check


def _array(schema: Mapping[str, Any], fail: Fail) -> Check:
    most, least = schema.get("maxLength"), schema.get("minLength")
    check_item = compile_check(schema["items"], fail)

    def check(value: object, path: str) -> None:
        if not isinstance(value, list):
            raise fail("must be an array", path)
        if most is not None and len(value) > most:
            raise fail(f"must hold at most {most} items", path)
        if least is not None and len(value) < least:
            raise fail(f"must hold at least {least} items", path)
        for i, item in enumerate(value):
            check_item(item, f"{path}[{i}]")

    return check


def _blob(schema: Mapping[str, Any], fail: Fail) -> Check:
    max_size, accept = schema.get("maxSize"), schema.get("accept")

    def check(value: object, path: str) -> None:
        if not isinstance(value, dict) or value.get("$type") != "blob":
            raise fail("must be a blob", path)
        mime, size = value.get("mimeType"), value.get("size")
        if not isinstance(mime, str) or len(mime) > 128:
            raise fail("must name its mimeType", path)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise fail("must give its size", path)
        if blob_cid(value.get("ref")) is None:
            raise fail("must reference its content by CID", path)
        if max_size is not None and size > max_size:
            raise fail(f"must be at most {max_size} bytes", path)
        if accept is not None and not _accepts(accept, mime):
            raise fail(f"must be one of {', '.join(accept)}", path)

    return check
