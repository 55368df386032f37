"""Blobs in records (an app.bsky.actor.profile's avatar): checked by their lexicon — type, size,
a CID reference in either form a record arrives in — and named by the CID of their bytes."""

from __future__ import annotations

from typing import Any

import libipld
import pytest

from relay.atproto.lexicon import LexiconCatalog, blob_cid, default_lexicon_dir
from relay.atproto.records import ProfileRecord
from relay.atproto.repos import raw_cid
from relay.errors import RecordValidationError

HELLO = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"  # raw, sha-256 of b"hello"


def profile(**avatar: Any) -> dict[str, Any]:
    blob = {"$type": "blob", "ref": {"$link": HELLO}, "mimeType": "image/png", "size": 5}
    return {"$type": "app.bsky.actor.profile", "displayName": "Ada", "avatar": {**blob, **avatar}}


@pytest.fixture(scope="module")
def catalog() -> LexiconCatalog:
    return LexiconCatalog.load(default_lexicon_dir())


def test_a_blob_is_named_by_the_cid_of_its_bytes() -> None:
    assert raw_cid(b"hello") == HELLO
    binary = libipld.decode_multibase(HELLO)[1]  # how a DAG-CBOR link is decoded
    assert blob_cid(binary) == HELLO
    assert blob_cid({"$link": HELLO}) == HELLO
    for bad in (b"\x00" + binary, {"$link": "not a cid"}, "bafk…", None, {"cid": HELLO}):
        assert blob_cid(bad) is None


def test_a_profile_reads_its_name_description_and_avatar(catalog: LexiconCatalog) -> None:
    read = ProfileRecord.from_json(profile(), catalog)
    assert read.display_name == "Ada" and read.avatar is not None
    assert (read.avatar.cid, read.avatar.mime_type, read.avatar.size) == (HELLO, "image/png", 5)
    binary = libipld.decode_multibase(HELLO)[1]
    assert ProfileRecord.from_json(profile(ref=binary), catalog).avatar == read.avatar
    blank = ProfileRecord.from_json(
        {"$type": "app.bsky.actor.profile", "displayName": " "}, catalog
    )
    assert (blank.display_name, blank.avatar) == (None, None)


@pytest.mark.parametrize(
    ("avatar", "said"),
    [
        ({"mimeType": "image/gif"}, "must be one of image/png, image/jpeg"),
        ({"size": 1_000_001}, "at most 1000000 bytes"),
        ({"ref": {"$link": "nope"}}, "by CID"),
        ({"$type": "other"}, "must be a blob"),
        ({"size": -1}, "size"),
    ],
)
def test_a_bad_avatar_is_refused_naming_it(
    catalog: LexiconCatalog, avatar: dict[str, Any], said: str
) -> None:
    with pytest.raises(RecordValidationError, match=said) as refused:
        catalog.validate("app.bsky.actor.profile", profile(**avatar))
    assert refused.value.path == "avatar"
