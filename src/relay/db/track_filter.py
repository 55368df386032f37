"""The track filter, in one place for both readers: SQL for queries (``clauses``) and Python for
live events (``matches``). The two must agree; a unit test checks them against each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, bindparam, or_

from relay.db.models import TrackRow
from relay.db.text_search import SearchQuery, search_text
from relay.domain import FileType, PublishState


class FilterableTrack(Protocol):
    """What the filter looks at (a row, or a read model of one)."""

    @property
    def artist_did(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def artist(self) -> str: ...
    @property
    def album(self) -> str | None: ...
    @property
    def file_type(self) -> str: ...
    @property
    def publish_state(self) -> str: ...


def _key(text: str | None) -> str | None:
    """How a filter value compares: surrounding space ignored, any case; blank means no filter."""
    if text is None or not text.strip():
        return None
    return text.strip().casefold()


def visible() -> tuple[ColumnElement[bool], ...]:
    """What every read requires of a track: its account is not hidden and it is not being
    deleted."""
    return (TrackRow.hidden.is_(False), TrackRow.delete_requested_at.is_(None))


def seen_by(viewer_did: str | None, name: str = "viewer_did") -> ColumnElement[bool]:
    """Who may see which track: a published track everyone; a draft, a publish under way or a
    failed one only its owner (``viewer_did``, a parameter called ``name``; None is an
    anonymous caller)."""
    published = TrackRow.publish_state == PublishState.PUBLISHED.value
    if viewer_did is None:
        return published
    return or_(published, TrackRow.artist_did == bindparam(name, viewer_did))


# The filter's comparisons of a column with a value, by the name of the value's parameter.
_COMPARED = (
    ("f_artist_did", TrackRow.artist_did),
    ("f_artist", TrackRow.artist_key),
    ("f_album", TrackRow.album_key),
    ("f_file_type", TrackRow.file_type),
)


def may_see(track: FilterableTrack, viewer_did: str | None) -> bool:
    """``seen_by`` for one track, in Python."""
    published = track.publish_state == PublishState.PUBLISHED.value
    return published or (viewer_did is not None and track.artist_did == viewer_did)


@dataclass(frozen=True)
class TrackFilter:
    """Which tracks a reader wants. Every field narrows; None (or blank text) leaves it open —
    except ``viewer_did``, who is reading: nobody else's unpublished tracks ever match."""

    artist_did: str | None = None
    artist: str | None = None
    album: str | None = None
    file_type: FileType | None = None
    search: str | None = None
    published: bool | None = None
    viewer_did: str | None = None

    def search_query(self) -> SearchQuery | None:
        """The words searched for (None: no search). Raises ``BadUserInputError`` for too
        many."""
        return SearchQuery.parse(self.search)

    def values(self) -> dict[str, str]:
        """The values ``row_clauses`` compare with, by the name of their bound parameter: a
        statement built for another filter of the same ``shape`` answers this one when it runs
        with these."""
        values: dict[str, str] = {}
        if self.viewer_did is not None:
            values["f_viewer"] = self.viewer_did
        if self.artist_did:
            values["f_artist_did"] = self.artist_did
        if (artist := _key(self.artist)) is not None:
            values["f_artist"] = artist
        if (album := _key(self.album)) is not None:
            values["f_album"] = album
        if self.file_type is not None:
            values["f_file_type"] = self.file_type.value
        return values

    def shape(self) -> tuple[object, ...]:
        """What ``row_clauses`` look like, apart from the values they compare with."""
        return (*self.values(), self.published)

    def row_clauses(self) -> list[ColumnElement[bool]]:
        """SQL conditions on ``tracks`` for all but the search (``search_query``), which
        ``TrackIndex`` answers with the database's full-text index; tracks of hidden accounts,
        and tracks being deleted, never match. Each value is a parameter named as in
        ``values``."""
        values = self.values()
        where: list[ColumnElement[bool]] = [*visible(), seen_by(self.viewer_did, "f_viewer")]
        for name, column in _COMPARED:
            if name in values:
                where.append(column == bindparam(name, values[name]))
        if self.published is not None:
            published = TrackRow.publish_state == PublishState.PUBLISHED.value
            where.append(published if self.published else ~published)
        return where

    def matches(self, track: FilterableTrack) -> bool:
        """The same test in Python, for a track that is visible (not of a hidden account)."""
        if not may_see(track, self.viewer_did):
            return False
        if self.artist_did and track.artist_did != self.artist_did:
            return False
        if (artist := _key(self.artist)) is not None and track.artist.casefold() != artist:
            return False
        album = _key(self.album)
        if album is not None and (track.album or "").casefold() != album:
            return False
        if self.file_type is not None and track.file_type != self.file_type.value:
            return False
        published = track.publish_state == PublishState.PUBLISHED.value
        if self.published is not None and published != self.published:
            return False
        query = self.search_query()
        return query is None or query.matches(search_text(track.title, track.artist, track.album))
