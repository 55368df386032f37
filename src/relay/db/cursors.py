"""Pagination cursors: opaque to clients, ``base64url(JSON [order field, sort value, row id])``.

A cursor names a position in one ordering; it is refused (``BadUserInputError``) when it is not one
of ours or belongs to another ordering, so a client can never make relay compare unlike values.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from math import isfinite
from typing import Any, overload

from relay import jsonc
from relay.db.models import StoredTrackColumns
from relay.domain import TrackOrderField
from relay.errors import BadUserInputError


def sort_value(row: StoredTrackColumns, field: TrackOrderField, score: float | None = None) -> Any:
    """The value a row is ordered by (the SQL side is ``tracks._sort_expression``); ``score``
    is its relevance to the search, for that ordering."""
    if field is TrackOrderField.RELEVANCE:
        return float(score or 0.0)
    if field is TrackOrderField.POPULAR:
        return int(score or 0)
    if field is TrackOrderField.TITLE:
        return row.title_key
    if field is TrackOrderField.DURATION:
        return -1 if row.duration is None else row.duration
    return row.created_at.isoformat()


def encode_cursor(
    row: StoredTrackColumns, field: TrackOrderField, score: float | None = None
) -> str:
    payload = jsonc.dumps_bytes([field.value, sort_value(row, field, score), row.id])
    return base64.urlsafe_b64encode(payload).decode()


class PageCursors(Sequence[str]):
    """A page's cursors, each encoded when first asked for: most clients ask for the page's
    last one only (``pageInfo.endCursor``), not one per edge."""

    def __init__(
        self,
        rows: Sequence[StoredTrackColumns],
        field: TrackOrderField,
        scores: Sequence[float | None] | None = None,
    ) -> None:
        self._rows, self._field, self._scores = rows, field, scores
        self._encoded: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self._rows)
        found = self._encoded.get(index)
        if found is None:
            score = None if self._scores is None else self._scores[index]
            found = self._encoded[index] = encode_cursor(self._rows[index], self._field, score)
        return found


def decode_cursor(cursor: str, field: TrackOrderField) -> tuple[Any, int]:
    """The (sort value, row id) a cursor points at, checked against ``field``."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        name, value, row_id = decoded
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadUserInputError("invalid pagination cursor") from exc
    if name != field.value:
        raise BadUserInputError("the cursor belongs to a different ordering")
    if not isinstance(row_id, int) or isinstance(row_id, bool):
        raise BadUserInputError("invalid pagination cursor")
    if field is TrackOrderField.CREATED_AT:
        if not isinstance(value, str):
            raise BadUserInputError("invalid pagination cursor")
        try:
            return datetime.fromisoformat(value), row_id
        except ValueError as exc:
            raise BadUserInputError("invalid pagination cursor") from exc
    if field is TrackOrderField.RELEVANCE:
        if not isinstance(value, int | float) or isinstance(value, bool) or not isfinite(value):
            raise BadUserInputError("invalid pagination cursor")
        return float(value), row_id
    expected = str if field is TrackOrderField.TITLE else int
    if not isinstance(value, expected) or isinstance(value, bool):
        raise BadUserInputError("invalid pagination cursor")
    return value, row_id


class IdCursor:
    """Cursors over a table ordered by row id (likes, lists): ``base64url(prefix + id)``; the
    prefix tells one table's cursors from another's, so neither is taken for the other."""

    def __init__(self, prefix: str, what: str) -> None:
        self._prefix = prefix
        self._refused = f"after is not a cursor of this list of {what}"

    def encode(self, row_id: int) -> str:
        return base64.urlsafe_b64encode(f"{self._prefix}{row_id}".encode()).decode()

    def decode(self, cursor: str) -> int:
        try:
            text = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (binascii.Error, UnicodeError, ValueError) as exc:
            raise BadUserInputError(self._refused) from exc
        value = text.removeprefix(self._prefix)
        if value == text or not value.isdigit() or len(value) > 18:
            raise BadUserInputError(self._refused)
        return int(value)


def check_size(name: str, size: int, limit: int) -> None:
    """Refuse a page size (``first``, ``last``) outside 0..``limit``."""
    if not 0 <= size <= limit:
        raise BadUserInputError(f"{name} must be between 0 and {limit}")
