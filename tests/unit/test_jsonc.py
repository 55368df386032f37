"""relay.jsonc: orjson's speed without losing what JSON allows and orjson refuses."""

from __future__ import annotations

import json

import pytest

from relay import jsonc


def test_round_trip_is_compact_utf8() -> None:
    value = {"title": "Café ♫", "n": 3, "list": [1, None, True]}
    text = jsonc.dumps(value)
    assert text == '{"title":"Café ♫","n":3,"list":[1,null,true]}'
    assert jsonc.loads(text) == value
    assert jsonc.loads(text.encode()) == value


def test_what_orjson_refuses_is_still_read() -> None:
    # Lone surrogate escapes are JSON; a record holding one is judged by the validators, not
    # lost with its whole page. Integers beyond 64 bits come back as floats, which no integer
    # field of a lexicon accepts (so such a record is dropped as invalid either way).
    assert jsonc.loads('{"s": "\\ud800"}') == {"s": "\ud800"}
    huge = jsonc.loads('{"n": 123456789012345678901234567890}')["n"]
    assert not isinstance(huge, int)
    assert jsonc.dumps({"n": 2**70}) == '{"n":1180591620717411303424}'


def test_not_json_and_too_deep_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"property name|Expecting"):
        jsonc.loads(b"{not json")
    with pytest.raises(ValueError, match="nested too deeply"):
        jsonc.loads("[" * 100_000 + "]" * 100_000)


def test_size_counts_utf8_bytes_and_non_json_leaves() -> None:
    assert jsonc.size({"t": "é"}) == len('{"t":"é"}'.encode())
    assert jsonc.size({"b": b"\x01\x02"}) == len(
        json.dumps({"b": str(b"\x01\x02")}, separators=(",", ":"))
    )
    assert jsonc.size({"n": 2**70}) == len('{"n":1180591620717411303424}')
    deep: object = []
    for _ in range(5_000):
        deep = [deep]
    assert jsonc.size(deep) is None
