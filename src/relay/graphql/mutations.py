"""Mutation resolvers: authenticate, translate IDs, call one service function."""

from __future__ import annotations

import strawberry
from starlette.responses import Response
from strawberry import relay

from relay.errors import BadUserInputError, UnauthenticatedError
from relay.graphql.context import SESSION_COOKIE, RelayContext
from relay.graphql.inputs import (
    BackfillInput,
    CreateListInput,
    UpdateListInput,
    UpdateTrackInput,
    UploadTrackInput,
)
from relay.graphql.list_types import MusicList
from relay.graphql.sync_types import BackfillStarted
from relay.graphql.types import DeleteTrackPayload, LoginPayload, Track, Viewer
from relay.services.backfill import BackfillRequest
from relay.services.lists import ListChanges
from relay.services.track_edits import TrackChanges
from relay.services.track_uploads import StagedUpload, TrackFields

Info = strawberry.Info[RelayContext, None]


def track_uri(global_id: strawberry.ID) -> str:
    """The AT-URI inside a Track's global ID."""
    try:
        decoded = relay.GlobalID.from_id(global_id)
    except Exception as exc:
        raise BadUserInputError(f"{global_id!r} is not a valid ID") from exc
    if decoded.type_name != "Track":
        raise BadUserInputError(f"{global_id!r} is not a Track ID")
    return decoded.node_id


@strawberry.type
class DeleteListPayload:
    uri: str


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Upload audio (multipart request) and, unless publish is false, publish it."
    )
    async def upload_track(self, info: Info, input: UploadTrackInput) -> Track:
        viewer = await info.context.require_viewer()
        if not isinstance(input.file, StagedUpload):
            raise BadUserInputError(
                "file must be sent as a multipart upload (graphql-multipart-request spec)"
            )
        await info.context.throttle("uploads_per_caller", viewer.did)
        await info.context.throttle(
            "upload_bytes_per_caller", viewer.did, cost=max(1, input.file.size)
        )
        if input.image is not None and not isinstance(input.image, StagedUpload):
            raise BadUserInputError("image must be sent as a file of the multipart upload")
        fields = TrackFields(title=input.title, artist=input.artist, album=input.album)
        view = await info.context.services.uploads.upload(
            viewer, input.file, fields, publish=input.publish, image=input.image
        )
        return Track.of(view)

    @strawberry.mutation(description="Publish a draft, or retry a failed publish, now.")
    async def publish_track(self, info: Info, id: strawberry.ID) -> Track:
        viewer = await info.context.require_viewer()
        view = await info.context.services.publishing.publish(viewer, track_uri(id))
        return Track.of(view)

    @strawberry.mutation(
        description=(
            "Edit metadata and artwork; a published record is rewritten in place. An edit its "
            "PDS could not answer is kept as FAILED and written again."
        )
    )
    async def update_track(self, info: Info, id: strawberry.ID, input: UpdateTrackInput) -> Track:
        viewer = await info.context.require_viewer()
        if input.image is not None and not isinstance(input.image, StagedUpload):
            raise BadUserInputError("image must be sent as a file of a multipart request")
        changes = TrackChanges(title=input.title, artist=input.artist, album=input.album)
        view = await info.context.services.edits.update(
            viewer, track_uri(id), changes, image=input.image, remove_image=input.remove_image
        )
        return Track.of(view)

    @strawberry.mutation(description="Delete the PDS record, the audio and the index entry.")
    async def delete_track(self, info: Info, id: strawberry.ID) -> DeleteTrackPayload:
        viewer = await info.context.require_viewer()
        view = await info.context.services.edits.delete(viewer, track_uri(id))
        return DeleteTrackPayload(deleted_id=id, uri=view.uri)

    @strawberry.mutation(
        description="Like a published track: an app.relay.like record in your repo. Liking a "
        "track you like already changes nothing."
    )
    async def like_track(self, info: Info, id: strawberry.ID) -> Track:
        viewer = await info.context.require_viewer()
        view = await info.context.services.likes.like(viewer, track_uri(id))
        return Track.of(view)

    @strawberry.mutation(
        description="Remove your like of a track (none: nothing changes). The track, or null if "
        "it is gone."
    )
    async def unlike_track(self, info: Info, id: strawberry.ID) -> Track | None:
        viewer = await info.context.require_viewer()
        view = await info.context.services.likes.unlike(viewer, track_uri(id))
        return None if view is None else Track.of(view)

    @strawberry.mutation(
        description="Make an album (of your own tracks) or a playlist: an app.relay.list record "
        "in your repo."
    )
    async def create_list(self, info: Info, input: CreateListInput) -> MusicList:
        viewer = await info.context.require_viewer()
        view = await info.context.services.lists.create(
            viewer,
            name=input.name,
            list_type=input.list_type,
            description=input.description,
            items=[track_uri(i) for i in input.items],
        )
        return MusicList.of(view)

    @strawberry.mutation(
        description="Rename, describe, reorder, add or remove tracks; the record is rewritten in "
        "place (swapRecord: changed elsewhere meanwhile answers CONFLICT)."
    )
    async def update_list(self, info: Info, uri: str, input: UpdateListInput) -> MusicList:
        viewer = await info.context.require_viewer()
        changes = ListChanges(
            name=input.name,
            description=input.description,
            items=None if input.items is None else [track_uri(i) for i in input.items],
            add=[track_uri(i) for i in input.add],
        )
        view = await info.context.services.lists.update(viewer, uri, changes)
        return MusicList.of(view)

    @strawberry.mutation(description="Delete one of your lists (its record and index entry).")
    async def delete_list(self, info: Info, uri: str) -> DeleteListPayload:
        viewer = await info.context.require_viewer()
        await info.context.services.lists.delete(viewer, uri)
        return DeleteListPayload(uri=uri)

    @strawberry.mutation(description="Sign in with a handle or DID and an app password.")
    async def login(self, info: Info, identifier: str, password: str) -> LoginPayload:
        context = info.context
        await context.throttle("login_per_address", context.client_address)
        # The 21st failed attempt at one identifier in a window never reaches the PDS.
        account = identifier.strip().lower().removeprefix("@")
        await context.throttle("failed_logins_per_identifier", account, count=False)
        try:
            token, viewer = await context.services.sessions.login(identifier, password)
        except (UnauthenticatedError, BadUserInputError):
            await context.services.limits.hit("failed_logins_per_identifier", account)
            raise
        return LoginPayload(token=token, viewer=Viewer.of(viewer))

    @strawberry.mutation(description="Index records from users' repos in the background (admins).")
    async def backfill(self, info: Info, input: BackfillInput) -> BackfillStarted:
        await info.context.require_admin()
        request = BackfillRequest(
            dids=tuple(input.dids),
            handles=tuple(input.handles),
            pds_hosts=tuple(input.pds_hosts),
            relay_hosts=tuple(input.relay_hosts),
            use_car=input.use_car,
        )
        if not request.names_repos:
            raise BadUserInputError("name at least one DID, handle, PDS host or relay host")
        return BackfillStarted(run_id=info.context.services.sync.schedule(request))

    @strawberry.mutation(description="End the current session.")
    async def logout(self, info: Info) -> bool:
        viewer = await info.context.require_viewer()
        await info.context.services.sessions.logout(viewer)
        response = info.context.response
        if isinstance(response, Response):
            response.delete_cookie(SESSION_COOKIE, path="/")
        return True
