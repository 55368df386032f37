"""ORM models of the index."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from relay.db.text_search import search_text


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def derived_keys(
    title: str, artist: str, album: str | None, audio_url: str
) -> tuple[str, str, str, str | None, str]:
    """(audio_host, title_key, artist_key, album_key, search_text) of a track's columns:
    case-folded text and the audio URL's host."""
    return (
        (urlsplit(audio_url).hostname or "").lower(),
        title.casefold(),
        artist.casefold(),
        album.casefold() if album is not None else None,
        search_text(title, artist, album),
    )


class RecordColumns(Protocol):
    """The fields of a track's record, wherever they are held (a row, a read model)."""

    @property
    def title(self) -> str: ...
    @property
    def artist(self) -> str: ...
    @property
    def album(self) -> str | None: ...
    @property
    def audio_url(self) -> str: ...
    @property
    def image_url(self) -> str | None: ...
    @property
    def file_type(self) -> str: ...
    @property
    def duration(self) -> int | None: ...
    @property
    def record_created_at(self) -> str: ...


class TrackColumns(RecordColumns, Protocol):
    """What reads take from a track: an ORM ``TrackRow``, or a plain row of its columns (what
    pages and lookups read — no unit of work, identity map or expunge on close)."""

    @property
    def uri(self) -> str: ...
    @property
    def rkey(self) -> str: ...
    @property
    def cid(self) -> str | None: ...
    @property
    def title_key(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def indexed_at(self) -> datetime: ...
    @property
    def artist_did(self) -> str: ...
    @property
    def artist_handle(self) -> str | None: ...
    @property
    def publish_state(self) -> str: ...
    @property
    def publish_error(self) -> str | None: ...
    @property
    def audio_host(self) -> str: ...


class StoredTrackColumns(TrackColumns, Protocol):
    """A track read back from the index (with its row id)."""

    @property
    def id(self) -> int: ...


class Base(DeclarativeBase):
    pass


class TrackRow(Base):
    """One track: relay's own (with ``file_id``) or, later, one indexed from the network."""

    __tablename__ = "tracks"
    __table_args__ = (
        Index("ix_tracks_created_at", "created_at", "id"),
        Index("ix_tracks_artist_created", "artist_did", "created_at", "id"),
        Index("ix_tracks_file_id", "file_id"),
        Index("ix_tracks_publish_due", "publish_state", "next_publish_at"),
        Index("ix_tracks_artist_key", "artist_key"),
        Index("ix_tracks_title_key", "title_key", "id"),
    )

    def derive_keys(self) -> None:
        """Refresh the derived columns: case-folded text and the audio URL's host."""
        self.audio_host, self.title_key, self.artist_key, self.album_key, self.search_text = (
            derived_keys(self.title, self.artist, self.album, self.audio_url)
        )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(512), unique=True)
    artist_did: Mapped[str] = mapped_column(String(256))
    rkey: Mapped[str] = mapped_column(String(64))
    cid: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    artist: Mapped[str] = mapped_column(Text)
    album: Mapped[str | None] = mapped_column(Text)
    # Case-folded copies (computed in Python: SQLite's lower() only knows ASCII).
    title_key: Mapped[str] = mapped_column(Text, default="")
    artist_key: Mapped[str] = mapped_column(Text, default="")
    album_key: Mapped[str | None] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, default="")
    audio_url: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)  # the record's cover artwork
    file_id: Mapped[str | None] = mapped_column(String(128))
    # relay's stored copy of the artwork (counted in audio_objects like the audio), if it has one
    image_file_id: Mapped[str | None] = mapped_column(String(128))
    # The copy an edit replaces, still counted while the PDS may hold the record showing it (the
    # edit is PUBLISHING): uncounted once the new record is written, kept if it is refused.
    replaced_image_file_id: Mapped[str | None] = mapped_column(String(128))
    file_type: Mapped[str] = mapped_column(String(16))
    duration: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    record_created_at: Mapped[str] = mapped_column(String(64))
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    artist_handle: Mapped[str | None] = mapped_column(String(256))
    publish_state: Mapped[str] = mapped_column(String(16))
    publish_error: Mapped[str | None] = mapped_column(Text)
    publish_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rev: Mapped[str | None] = mapped_column(String(64))  # repo revision of the indexed record
    audio_host: Mapped[str] = mapped_column(String(255), default="")
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # account deactivated/taken down
    # The lease a publish or a delete holds on this track (one process at a time): its token and
    # when it lapses if the holder dies.
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set before a delete touches the PDS: the track is gone for readers, and a delete cut short
    # by a crash is finished by the worker.
    delete_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionRow(Base):
    """A relay session. Only the SHA-256 of the bearer token is stored; PDS tokens and DPoP keys
    are sealed (encrypted with RELAY_SECRET_KEY)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    did: Mapped[str] = mapped_column(String(256), index=True)
    handle: Mapped[str] = mapped_column(String(256))
    pds_url: Mapped[str] = mapped_column(String(512))
    auth_kind: Mapped[str] = mapped_column(String(32))
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str | None] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(String(512))
    scope: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dpop_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthRequestRow(Base):
    """A sign-in between ``/oauth/login`` and ``/oauth/callback``, keyed by ``state``."""

    __tablename__ = "oauth_requests"

    state: Mapped[str] = mapped_column(String(128), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(512))
    did: Mapped[str | None] = mapped_column(String(256))
    pds_url: Mapped[str | None] = mapped_column(String(512))
    verifier: Mapped[str] = mapped_column(Text)
    dpop_key: Mapped[str] = mapped_column(Text)
    app_redirect: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncCursorRow(Base):
    """Where a firehose consumer is: written in the same transaction as the rows it produced."""

    __tablename__ = "sync_cursors"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RepoChainRow(Base):
    """The last commit relay verified of an artist's repo (its signed rev and MST root), stored with
    the cursor of the batch that verified it: after a restart the next commit's ``prevData`` is
    still checked against it (a commit withheld across a restart is noticed)."""

    __tablename__ = "repo_chains"

    did: Mapped[str] = mapped_column(String(256), primary_key=True)
    rev: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary(128))  # binary CID of the tree root
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TombstoneRow(Base):
    """A record deleted at a known revision of its repo: a copy of it that arrives later — the
    firehose's late echo of an older commit, a backfill's listing read before the delete — is
    older than the delete, and is not indexed again. Kept for ``TOMBSTONE_DAYS``."""

    __tablename__ = "record_tombstones"
    __table_args__ = (Index("ix_record_tombstones_deleted_at", "deleted_at"),)

    uri: Mapped[str] = mapped_column(String(512), primary_key=True)
    rev: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackfillRepoRow(Base):
    """One repo of a backfill run; a rerun of the same run skips the repos already done."""

    __tablename__ = "backfill_repos"

    run: Mapped[str] = mapped_column(String(128), primary_key=True)
    did: Mapped[str] = mapped_column(String(256), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | done | failed
    records: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AudioObjectRow(Base):
    """A stored audio object and how many tracks use it, counted in the same transaction as the
    rows. An object no row references (``refs`` 0) since ``unreferenced_since`` plus a grace
    period is removed by the collector — also one whose upload crashed before its row existed."""

    __tablename__ = "audio_objects"
    __table_args__ = (Index("ix_audio_objects_unreferenced", "refs", "unreferenced_since"),)

    file_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    refs: Mapped[int] = mapped_column(Integer, default=0)
    unreferenced_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TrackEventRow(Base):
    """Index changes for subscribers of every process (PostgreSQL: each insert is announced with
    NOTIFY; listeners read what they have not seen by id). Pruned after a retention period."""

    __tablename__ = "track_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LikeRow(Base):
    """An ``app.relay.like`` record: who liked which track (a strongRef: the subject's URI and
    the CID of the version liked). Kept whether or not the track is indexed — a like of a track
    not (or no longer) known is shown as such, not dropped."""

    __tablename__ = "likes"
    __table_args__ = (
        Index("ix_likes_subject", "subject_uri", "liker_did"),
        Index("ix_likes_liker", "liker_did", "id"),
        Index("ix_likes_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(512), unique=True)
    liker_did: Mapped[str] = mapped_column(String(256))
    liker_handle: Mapped[str | None] = mapped_column(String(256))  # verified, as with tracks
    rkey: Mapped[str] = mapped_column(String(64))
    cid: Mapped[str] = mapped_column(String(128))
    rev: Mapped[str | None] = mapped_column(String(64))
    subject_uri: Mapped[str] = mapped_column(String(512))
    subject_cid: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)  # the liker's account is inactive


class ListRow(Base):
    """An ``app.relay.list`` record: an album or a playlist of tracks (its items in
    ``list_items``)."""

    __tablename__ = "lists"
    __table_args__ = (
        Index("ix_lists_owner", "owner_did", "id"),
        Index("ix_lists_type", "list_type", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(512), unique=True)
    owner_did: Mapped[str] = mapped_column(String(256))
    owner_handle: Mapped[str | None] = mapped_column(String(256))  # verified, as with tracks
    rkey: Mapped[str] = mapped_column(String(64))
    cid: Mapped[str] = mapped_column(String(128))
    rev: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(Text)  # case-folded, for search
    list_type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer)
    record_created_at: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[str | None] = mapped_column(String(64))
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)


class ListItemRow(Base):
    """One item of a list: a strongRef to a track, at its position."""

    __tablename__ = "list_items"
    __table_args__ = (Index("ix_list_items_track", "track_uri", "list_id"),)

    list_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_uri: Mapped[str] = mapped_column(String(512))
    track_cid: Mapped[str] = mapped_column(String(128))


class ProfileRow(Base):
    """An indexed artist's ``app.bsky.actor.profile`` (only of repos relay indexes records of):
    the name and description to show, and where the avatar blob lives (the repo's PDS, by CID)."""

    __tablename__ = "profiles"

    did: Mapped[str] = mapped_column(String(256), primary_key=True)
    cid: Mapped[str] = mapped_column(String(128))
    rev: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    avatar_cid: Mapped[str | None] = mapped_column(String(128))
    avatar_mime: Mapped[str | None] = mapped_column(String(128))
    pds_url: Mapped[str | None] = mapped_column(String(512))
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime)
