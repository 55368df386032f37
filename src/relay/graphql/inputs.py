"""GraphQL input types."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from relay.graphql.enums import FileType
from relay.services import track_reads


@strawberry.input
class TrackFilter:
    artist_did: str | None = None
    artist: str | None = strawberry.field(default=None, description="Artist name, any case.")
    album: str | None = strawberry.field(default=None, description="Album name, any case.")
    file_type: FileType | None = None
    search: str | None = strawberry.field(
        default=None,
        description="Words found in the title, artist or album, each as the start of a word "
        '(any case and accents: "blue mon" finds "Blue Monday"). Order by RELEVANCE for the '
        "best matches first.",
    )
    published: bool | None = strawberry.field(
        default=None,
        description="Only tracks whose record is on the PDS (true), or only drafts and "
        "unfinished publishes (false) — which are only ever your own.",
    )

    def value(self, viewer_did: str | None) -> track_reads.TrackFilter:
        """The filter the services apply (to queries and to live events alike), for the caller
        ``viewer_did`` (None: anonymous)."""
        return track_reads.TrackFilter(
            artist_did=self.artist_did,
            artist=self.artist,
            album=self.album,
            file_type=self.file_type,
            search=self.search,
            published=self.published,
            viewer_did=viewer_did,
        )


@strawberry.input
class UploadTrackInput:
    file: Upload
    image: Upload | None = strawberry.field(
        default=None,
        description="Cover artwork (JPEG, PNG, WebP or GIF, at most RELAY_MAX_IMAGE_BYTES): "
        "stored as a 1000x1000 JPEG without metadata; its URL becomes the record's imageUrl.",
    )
    title: str | None = strawberry.field(
        default=None, description="Omitted: the file's title tag, else the file name."
    )
    artist: str | None = strawberry.field(
        default=None, description="Omitted: the file's artist tag, else your handle."
    )
    album: str | None = strawberry.field(
        default=None, description="Omitted: the file's album tag; an empty string for none."
    )
    publish: bool = strawberry.field(
        default=True, description="Write the record to your PDS now (false keeps a draft)."
    )


@strawberry.input
class UpdateTrackInput:
    title: str | None = None
    artist: str | None = None
    album: str | None = strawberry.field(default=None, description="An empty string clears it.")
    image: Upload | None = strawberry.field(
        default=None,
        description="New cover artwork, as a file of a multipart request (as with uploadTrack).",
    )
    remove_image: bool = strawberry.field(
        default=False, description="Take the cover artwork off the track (and its record)."
    )


@strawberry.input(description="Where to find repos to backfill; any combination.")
class BackfillInput:
    dids: list[str] = strawberry.field(default_factory=list)
    handles: list[str] = strawberry.field(default_factory=list)
    pds_hosts: list[str] = strawberry.field(
        default_factory=list, description="Every repo on these PDS hosts (sync.listRepos)."
    )
    relay_hosts: list[str] = strawberry.field(
        default_factory=list,
        description="Every repo these relays report for app.relay.track.",
    )
    use_car: bool = strawberry.field(
        default=False, description="Fetch each repo as one CAR (sync.getRepo) instead of pages."
    )


@strawberry.input(description="Which albums and playlists to list; any combination.")
class ListFilterInput:
    owner_did: str | None = None
    list_type: str | None = strawberry.field(
        default=None, description='"album" or "playlist" (or another type a client wrote).'
    )
    search: str | None = strawberry.field(
        default=None, description="Words found in the name (any case)."
    )


@strawberry.input
class CreateListInput:
    name: str
    list_type: str = strawberry.field(description='"album" (your own tracks) or "playlist".')
    description: str | None = None
    items: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Track IDs, in order (at most 500)."
    )


@strawberry.input(description="What to change; what is omitted stays as it is.")
class UpdateListInput:
    name: str | None = None
    description: str | None = strawberry.field(
        default=None, description="An empty string clears it."
    )
    items: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="The whole new order of track IDs: reorder, or leave tracks out to remove "
        "them.",
    )
    add: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Track IDs to append (those in the list stay put)."
    )
