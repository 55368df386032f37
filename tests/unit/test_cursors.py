"""Pagination cursors: round trips for every ordering, and refusal of anything not ours."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from relay.db.cursors import decode_cursor, encode_cursor
from relay.db.models import TrackRow
from relay.domain import TrackOrderField
from relay.errors import BadUserInputError
from tests.harness.catalog import catalog_row

CREATED = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)


def _row(duration: int | None = 42) -> TrackRow:
    row = catalog_row(
        "did:plc:" + "a" * 24,
        "3kaaaaaaaaaaa",
        title="Ünïcode Title",
        artist="A",
        created_at=CREATED,
        duration=duration,
    )
    row.id = 7
    return row


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (TrackOrderField.CREATED_AT, CREATED),
        (TrackOrderField.TITLE, "ünïcode title"),
        (TrackOrderField.DURATION, 42),
    ],
)
def test_a_cursor_decodes_to_the_rows_position(field: TrackOrderField, value: object) -> None:
    cursor = encode_cursor(_row(), field)
    assert decode_cursor(cursor, field) == (value, 7)


def test_a_track_without_duration_sorts_as_minus_one() -> None:
    cursor = encode_cursor(_row(duration=None), TrackOrderField.DURATION)
    assert decode_cursor(cursor, TrackOrderField.DURATION) == (-1, 7)


def test_a_cursor_of_another_ordering_is_refused() -> None:
    cursor = encode_cursor(_row(), TrackOrderField.TITLE)
    with pytest.raises(BadUserInputError, match="different ordering"):
        decode_cursor(cursor, TrackOrderField.CREATED_AT)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        base64.urlsafe_b64encode(b"not json").decode(),
        _cursor({"a": 1}),
        _cursor(["CREATED_AT", "2026-01-01T00:00:00+00:00"]),
        _cursor(["CREATED_AT", "yesterday", 1]),
        _cursor(["CREATED_AT", 12, 1]),
        _cursor(["CREATED_AT", "2026-01-01T00:00:00+00:00", "1"]),
        _cursor(["CREATED_AT", "2026-01-01T00:00:00+00:00", True]),
    ],
)
def test_garbage_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(BadUserInputError):
        decode_cursor(cursor, TrackOrderField.CREATED_AT)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (TrackOrderField.TITLE, 5),
        (TrackOrderField.DURATION, "long"),
        (TrackOrderField.DURATION, 1.5),
        (TrackOrderField.DURATION, False),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(field: TrackOrderField, value: object) -> None:
    with pytest.raises(BadUserInputError, match="invalid pagination cursor"):
        decode_cursor(_cursor([field.value, value, 1]), field)
