"""Records that point at other records: ``ref`` (to ``com.atproto.repo.strongRef``) and arrays,
resolved from the lexicon files when they are loaded — app.relay.like and app.relay.list, the
records of likes, albums and playlists. Each violation names the field it is in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.errors import LexiconError, RecordValidationError

TRACK = "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.relay.track/3kabcdefghijk"
CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
REF = {"uri": TRACK, "cid": CID}
LIKE: dict[str, Any] = {
    "$type": "app.relay.like", "subject": REF, "createdAt": "2026-12-06T10:00:00.000Z",
}  # fmt: skip
LIST: dict[str, Any] = {
    "$type": "app.relay.list",
    "name": "Night drives",
    "listType": "playlist",
    "items": [REF, {**REF, "uri": TRACK[:-1] + "l"}],
    "createdAt": "2026-12-06T10:00:00.000Z",
}


@pytest.fixture(scope="module")
def catalog() -> LexiconCatalog:
    return LexiconCatalog.load(default_lexicon_dir())


def test_likes_and_lists_that_follow_their_lexicons_pass(catalog: LexiconCatalog) -> None:
    assert catalog.validate("app.relay.like", LIKE) == LIKE
    assert catalog.validate("app.relay.list", LIST) == LIST
    album = {**LIST, "listType": "album", "items": [], "description": "Ten years of tapes"}
    assert catalog.validate("app.relay.list", album)["listType"] == "album"
    # knownValues are open: another list type is kept, as the spec says.
    assert catalog.validate("app.relay.list", {**LIST, "listType": "mixtape"})
    assert catalog.schema("app.relay.like").key == "tid"


@pytest.mark.parametrize(
    ("nsid", "record", "where"),
    [
        ("app.relay.like", {**LIKE, "subject": {"uri": TRACK}}, "subject.cid"),
        ("app.relay.like", {**LIKE, "subject": {**REF, "cid": "not-a-cid"}}, "subject.cid"),
        ("app.relay.like", {**LIKE, "subject": {**REF, "uri": "https://x.example/t"}},
         "subject.uri"),
        ("app.relay.like", {**LIKE, "subject": "at://did:plc:x/app.relay.track/1"}, "subject"),
        ("app.relay.list", {**LIST, "items": [REF] * 501}, "items"),
        ("app.relay.list", {**LIST, "items": [REF, REF, {"uri": TRACK, "cid": 7}]}, "items[2].cid"),
        ("app.relay.list", {**LIST, "items": REF}, "items"),
        ("app.relay.list", {**LIST, "name": ""}, "name"),
    ],
)  # fmt: skip
def test_violations_name_the_field(
    catalog: LexiconCatalog, nsid: str, record: dict[str, Any], where: str
) -> None:
    with pytest.raises(RecordValidationError) as caught:
        catalog.validate(nsid, record)
    assert caught.value.path == where


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "ref", "ref": "com.example.missing"},
        {"type": "ref", "ref": "#nowhere"},
        {"type": "ref"},
        {"type": "array"},
        {"type": "array", "items": {"type": "union", "refs": []}},
    ],
)
def test_a_ref_or_array_that_cannot_be_resolved_is_refused_at_load(
    prop: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path / "lexicons"
    shutil.copytree(default_lexicon_dir(), root)
    path = root / "app/relay/like.json"
    doc = json.loads(path.read_text())
    doc["defs"]["main"]["record"]["properties"]["extra"] = prop
    path.write_text(json.dumps(doc))
    with pytest.raises(LexiconError):
        LexiconCatalog.load(root)


def test_a_ref_to_a_local_definition(tmp_path: Path) -> None:
    root = tmp_path / "lexicons"
    shutil.copytree(default_lexicon_dir(), root)
    path = root / "app/relay/like.json"
    doc = json.loads(path.read_text())
    doc["defs"]["note"] = {"type": "object", "required": ["text"],
                           "properties": {"text": {"type": "string", "maxLength": 4}}}  # fmt: skip
    doc["defs"]["main"]["record"]["properties"]["note"] = {"type": "ref", "ref": "#note"}
    path.write_text(json.dumps(doc))
    catalog = LexiconCatalog.load(root)
    assert catalog.validate("app.relay.like", {**LIKE, "note": {"text": "yes"}})
    with pytest.raises(RecordValidationError) as caught:
        catalog.validate("app.relay.like", {**LIKE, "note": {"text": "too long"}})
    assert caught.value.path == "note.text"
