"""What the index cannot hold, named before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from relay import jsonc
from relay.atproto.lexicon import LexiconCatalog, default_lexicon_dir
from relay.atproto.records import TrackRecord
from relay.clock import SystemClock
from relay.db.sync import TrackUpsert
from relay.domain import FileType
from relay.services.events import TrackEventBus
from relay.services.ingest import RecordBounds, RecordIngest, SyncStats, poison_reason

DID = "did:plc:" + "a" * 24
TID = "3kaaaaaaaaaa2"


def record(**changes: Any) -> TrackRecord:
    values: dict[str, Any] = {
        "title": "T", "artist": "A", "album": None, "audio_url": "https://cdn.example/a.mp3",
        "file_type": FileType.MP3, "duration": 120, "created_at": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    return TrackRecord(**{**values, **changes})


def test_an_honest_record_passes() -> None:
    assert poison_reason(did=DID, rkey=TID, rev=TID, record=record()) is None
    assert poison_reason(did=DID, rkey=TID, rev=None, record=record(duration=None)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"did": "did:web:" + "h" * 260}, "bad_did"),
        ({"did": "not a did"}, "bad_did"),
        ({"rkey": "k" * 100}, "bad_rkey"),
        ({"rkey": "self"}, "bad_rkey"),
        ({"rkey": "3KAAAAAAAAAA2"}, "bad_rkey"),
        ({"rkey": TID + "\n"}, "bad_rkey"),  # "$" would match before a final newline
        ({"rev": "z" * 64}, "bad_rev"),
        ({"record": record(audio_url="javascript:alert(1)")}, "bad_audio_url"),
        ({"record": record(audio_url="https:///nohost")}, "bad_audio_url"),
        ({"record": record(audio_url=f"https://{'h' * 300}.example/a")}, "bad_audio_url"),
        ({"record": record(duration=2**31)}, "bad_duration"),
        ({"record": record(duration=-1)}, "bad_duration"),
        ({"record": record(created_at="2026-01-01T00:00:00." + "1" * 80 + "Z")}, "bad_created_at"),
    ],
)
def test_poison_is_named(changes: dict[str, Any], reason: str) -> None:
    values: dict[str, Any] = {"did": DID, "rkey": TID, "rev": TID, "record": record()}
    assert poison_reason(**{**values, **changes}) == reason


def test_a_lone_surrogate_is_an_invalid_record_not_a_crash() -> None:
    # A hostile PDS may send one as a JSON escape (a real PDS cannot store one); relay's JSON
    # reader keeps it, so the validator must judge it — it once raised UnicodeEncodeError, which
    # no caller expected, and a backfill run ended with it.
    ingest = RecordIngest(
        lexicons=LexiconCatalog.load(default_lexicon_dir()), clock=SystemClock(),
        stats=SyncStats(), events=TrackEventBus(queue_size=1), bounds=RecordBounds(),
    )  # fmt: skip
    page = jsonc.loads(
        '[{"$type": "app.relay.track", "title": "Bad \\ud800", "artist": "A",'
        ' "audioUrl": "https://cdn.example/a.mp3", "fileType": "mp3",'
        ' "createdAt": "2026-01-01T00:00:00.000Z"},'
        ' {"$type": "app.relay.track", "title": "Honest", "artist": "A",'
        ' "audioUrl": "https://cdn.example/b.mp3", "fileType": "mp3",'
        ' "createdAt": "2026-01-01T00:00:00.000Z"}]'
    )
    bad, honest = (
        ingest.upsert(did=DID, rkey=TID, cid="bafyreiaaaaaaaaaa", rev=TID, value=v, handle=None)
        for v in page
    )
    assert bad is None
    assert ingest.stats.dropped == {"invalid_record": 1}
    assert isinstance(honest, TrackUpsert) and honest.record.title == "Honest"


@pytest.mark.parametrize("cid", ["b" + "a" * 200, "bafyreiaaaaaaaaaa\n", "not a cid", "\ud800"])
def test_a_record_version_that_is_no_cid_is_dropped(cid: str) -> None:
    # listRecords names each record's CID, and the index keeps it: a hostile PDS's is checked.
    ingest = RecordIngest(
        lexicons=LexiconCatalog.load(default_lexicon_dir()), clock=SystemClock(),
        stats=SyncStats(), events=TrackEventBus(queue_size=1), bounds=RecordBounds(),
    )  # fmt: skip
    value = {
        "$type": "app.relay.track", "title": "T", "artist": "A", "fileType": "mp3",
        "audioUrl": "https://cdn.example/a.mp3", "createdAt": "2026-01-01T00:00:00.000Z",
    }  # fmt: skip
    assert ingest.upsert(did=DID, rkey=TID, cid=cid, rev=TID, value=value, handle=None) is None
    assert ingest.stats.dropped == {"bad_cid": 1}
