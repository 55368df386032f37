"""Read models built the fast way (``TrackView.of`` fills the instance's dict) are exactly what the
dataclass's own constructor builds: every field set, none extra, equal and hashable alike."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

from relay.services.views import TrackView
from tests.harness.catalog import EPOCH, catalog_row


def test_of_sets_every_field_as_the_constructor_would() -> None:
    row = catalog_row(
        "did:plc:" + "v" * 24, "3kaaaaaaaaaaa", title="T", artist="A", album="B",
        created_at=EPOCH + timedelta(minutes=1), duration=12, cid="bafy", handle="a.test",
    )  # fmt: skip
    row.image_url = "https://cdn.example/cover.jpg"
    fast = TrackView.of(row)
    names = [f.name for f in fields(TrackView)]
    assert set(vars(fast)) == set(names)
    built = TrackView(**{name: getattr(fast, name) for name in names})
    assert fast == built and hash(fast) == hash(built)
    assert fast.record == built.record and fast.record.image_url == row.image_url
