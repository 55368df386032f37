"""``GET /audio/{file_id}``: audio (and artwork) from the filesystem store, with Range, ETag and
caching; ``GET /avatars/{did}/{cid}``: artists' avatars."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from relay.errors import NotFoundError, RelayError
from relay.http.state import relay_of
from relay.media import artwork
from relay.media.probe import CONTENT_TYPES
from relay.storage.filesystem import FilesystemAudioStore

_NOT_FOUND = "no such audio file"
# Keys end in what they hold: audio by its format, artwork as relay stores it.
_MEDIA_TYPES: dict[str, str] = {**CONTENT_TYPES, artwork.EXTENSION: artwork.CONTENT_TYPE}


async def serve_audio(request: Request) -> Response:
    store = relay_of(request).store
    file_id: str = request.path_params["file_id"]
    if not isinstance(store, FilesystemAudioStore):
        return PlainTextResponse("audio is served by the object store", status_code=404)
    try:
        path = store.path(file_id)
    except ValueError:
        return PlainTextResponse(_NOT_FOUND, status_code=404)
    if not await anyio.Path(path).is_file():
        return PlainTextResponse(_NOT_FOUND, status_code=404)
    digest, _, extension = file_id.partition(".")
    # The key is the content's SHA-256: a strong validator that never changes.
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{digest}"'}
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    # FileResponse answers Range requests with 206 and sends the file from a thread.
    return FileResponse(
        path,
        media_type=_MEDIA_TYPES.get(extension, "application/octet-stream"),
        headers=headers,
    )


async def serve_avatar(request: Request) -> Response:
    """``GET /avatars/{did}/{cid}``: an indexed artist's avatar, fetched from their own PDS and
    checked against its CID (so it never changes: cached for a year)."""
    did, cid = request.path_params["did"], request.path_params["cid"]
    if len(did) > 256 or len(cid) > 128:
        return PlainTextResponse("no such avatar", status_code=404)
    try:
        avatar = await relay_of(request).services.profiles.avatar(did, cid)
    except NotFoundError:
        return PlainTextResponse("no such avatar", status_code=404)
    except RelayError as exc:
        return PlainTextResponse(exc.message, status_code=502)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{cid}"',
        "X-Content-Type-Options": "nosniff",
    }
    if headers["ETag"] in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(avatar.data, media_type=avatar.content_type, headers=headers)
