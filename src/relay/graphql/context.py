"""The per-request GraphQL context: services, the caller's token and per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from relay.db.models import TrackRow
from relay.db.tracks import ArtistStats
from relay.errors import ForbiddenError, RelayError, UnauthenticatedError
from relay.services.events import TrackEventBus
from relay.services.sessions import SessionService, Viewer
from relay.services.sync import SyncCoordinator
from relay.services.tracks import TrackService


@dataclass(frozen=True)
class InstanceInfo:
    """What a client needs to know about this relay before it signs anyone in."""

    max_upload_bytes: int
    demo_handle: str | None = None
    demo_password: str | None = None


@dataclass(frozen=True)
class Services:
    """What resolvers may call. Built once per app in its lifespan."""

    tracks: TrackService
    sessions: SessionService
    sync: SyncCoordinator
    events: TrackEventBus
    admins: frozenset[str]
    playable_hosts: frozenset[str]
    instance: InstanceInfo


SESSION_COOKIE = "relay_session"


def session_token(request: Request | WebSocket) -> str | None:
    """The caller's relay session: ``Authorization: Bearer …`` or the sign-in cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) or None


@dataclass
class RelayContext:
    request: Request | WebSocket
    response: Response | WebSocket | None
    services: Services
    token: str | None
    track_loader: DataLoader[str, TrackRow | None] = field(init=False)
    artist_loader: DataLoader[str, ArtistStats | None] = field(init=False)
    _viewer: Viewer | None = field(default=None, init=False)
    _auth_error: RelayError | None = field(default=None, init=False)
    _resolved: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        async def load(uris: list[str]) -> list[TrackRow | None]:
            rows = await self.services.tracks.get_many(uris)
            return [rows.get(uri) for uri in uris]

        async def load_artists(dids: list[str]) -> list[ArtistStats | None]:
            stats = await self.services.tracks.artist_stats(dids)
            return [stats.get(did) for did in dids]

        self.track_loader = DataLoader(load_fn=load)
        self.artist_loader = DataLoader(load_fn=load_artists)

    async def viewer(self) -> Viewer | None:
        """The signed-in caller, or None (an invalid token reads as anonymous for queries)."""
        if not self._resolved:
            self._resolved = True
            if self.token is not None:
                try:
                    self._viewer = await self.services.sessions.authenticate(self.token)
                except UnauthenticatedError as exc:
                    self._auth_error = exc
        return self._viewer

    async def require_admin(self) -> Viewer:
        viewer = await self.require_viewer()
        if viewer.did not in self.services.admins:
            raise ForbiddenError("admins only (RELAY_ADMIN_DIDS)")
        return viewer

    async def require_viewer(self) -> Viewer:
        viewer = await self.viewer()
        if viewer is None:
            raise self._auth_error or UnauthenticatedError(
                "sign in first: send 'Authorization: Bearer <token>' from the login mutation"
            )
        return viewer
