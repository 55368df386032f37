"""Validation is driven by lexicons/app/relay/track.json itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.records import TrackRecord
from relay.errors import LexiconError, RecordValidationError

NSID = "app.relay.track"
GOOD: dict[str, Any] = {
    "$type": NSID,
    "title": "Song",
    "artist": "Artist",
    "album": "Album",
    "audioUrl": "https://pub.r2.dev/abc.mp3",
    "fileType": "mp3",
    "duration": 240,
    "createdAt": "2025-10-28T22:30:00.000Z",
}


@pytest.fixture(scope="module")
def catalog() -> LexiconCatalog:
    return LexiconCatalog.load(default_lexicon_dir())


def test_the_lexicon_document_follows_the_spec() -> None:
    doc = json.loads((default_lexicon_dir() / "app/relay/track.json").read_text())
    assert doc["lexicon"] == 1 and doc["id"] == NSID
    main = doc["defs"]["main"]
    assert main["type"] == "record" and main["key"] == "tid"
    record = main["record"]
    assert set(record["required"]) == {"title", "artist", "audioUrl", "fileType", "createdAt"}
    assert set(record["properties"]) == {
        "title", "artist", "album", "audioUrl", "imageUrl", "fileType", "duration", "createdAt",
    }  # fmt: skip
    # Added later, so optional: every record written before it stays valid.
    assert "imageUrl" not in record["required"]
    assert record["properties"]["imageUrl"]["format"] == "uri"
    for name in ("title", "artist", "album"):
        assert record["properties"][name]["maxGraphemes"] == 280
        assert "maxLength" in record["properties"][name]
    assert record["properties"]["fileType"]["enum"] == ["mp3", "wav", "ogg", "flac"]
    assert record["properties"]["audioUrl"]["format"] == "uri"
    assert record["properties"]["createdAt"]["format"] == "datetime"
    assert record["properties"]["duration"] == {
        "type": "integer", "description": record["properties"]["duration"]["description"],
        "minimum": 0,
    }  # fmt: skip


def test_a_good_record_passes(catalog: LexiconCatalog) -> None:
    assert catalog.validate(NSID, dict(GOOD)) == GOOD
    minimal = {k: v for k, v in GOOD.items() if k not in ("album", "duration")}
    assert catalog.validate(NSID, minimal) == minimal


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"$type": "app.other"}, "$type"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 281}, "title"),
        ({"artist": 5}, "artist"),
        ({"album": "é" * 1401}, "album"),  # 2802 bytes: over the byte bound
        ({"audioUrl": "not a url"}, "audioUrl"),
        ({"fileType": "aac"}, "fileType"),
        ({"duration": -1}, "duration"),
        ({"duration": 1.5}, "duration"),
        ({"duration": True}, "duration"),
        ({"createdAt": "2025-10-28 22:30:00"}, "createdAt"),
        ({"createdAt": "2025-10-28T22:30:00"}, "createdAt"),
        ({"createdAt": "2025-13-28T22:30:00Z"}, "createdAt"),
        # A lone surrogate: JSON can escape one (relay's JSON reader keeps it), text cannot hold it.
        ({"title": "a\ud800"}, "title"),
        ({"album": "é\udc00"}, "album"),
        ({"fileType": "\ud800"}, "fileType"),
    ],
)
def test_violations_name_the_field(
    change: dict[str, Any], path: str, catalog: LexiconCatalog
) -> None:
    record = {**GOOD, **change}
    with pytest.raises(RecordValidationError) as info:
        catalog.validate(NSID, record)
    assert info.value.path == path
    assert info.value.nsid == NSID


def test_missing_required_field(catalog: LexiconCatalog) -> None:
    record = {k: v for k, v in GOOD.items() if k != "createdAt"}
    with pytest.raises(RecordValidationError, match="createdAt: is required"):
        catalog.validate(NSID, record)


def test_rules_come_from_the_file(tmp_path: Path) -> None:
    root = tmp_path / "lexicons"
    shutil.copytree(default_lexicon_dir(), root)
    path = root / "app/relay/track.json"
    doc = json.loads(path.read_text())
    doc["defs"]["main"]["record"]["properties"]["title"]["maxGraphemes"] = 5
    doc["defs"]["main"]["record"]["properties"]["fileType"]["enum"].append("opus")
    path.write_text(json.dumps(doc))
    edited = LexiconCatalog.load(root)
    with pytest.raises(RecordValidationError, match="at most 5 characters"):
        edited.validate(NSID, {**GOOD, "title": "sixsix"})
    assert edited.validate(NSID, {**GOOD, "fileType": "opus"})["fileType"] == "opus"


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "cid-link"},
        {"type": "blob", "accept": ["image/png"], "minSize": 1},
        {"type": "string", "format": "language"},
        {"type": "string", "pattern": "x"},
    ],
)
def test_unsupported_lexicon_features_are_refused_at_load(
    prop: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path / "lexicons"
    shutil.copytree(default_lexicon_dir(), root)
    path = root / "app/relay/track.json"
    doc = json.loads(path.read_text())
    doc["defs"]["main"]["record"]["properties"]["cover"] = prop
    path.write_text(json.dumps(doc))
    with pytest.raises(LexiconError):
        LexiconCatalog.load(root)


def test_typed_record_round_trip(catalog: LexiconCatalog) -> None:
    record = TrackRecord.from_json(dict(GOOD), catalog)
    assert record.file_type == "mp3" and record.audio_url == GOOD["audioUrl"]
    assert record.to_json(catalog) == GOOD
    with pytest.raises(RecordValidationError):
        TrackRecord.from_json({**GOOD, "duration": -5}, catalog)
