"""The per-request GraphQL context: services, the caller's token and per-request loaders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from relay.errors import ForbiddenError, RateLimitedError, RelayError, UnauthenticatedError
from relay.services.app_services import Services
from relay.services.lists import ListItemView, ListView
from relay.services.profiles import ProfileView
from relay.services.sessions import Viewer
from relay.services.views import ArtistView, TrackView

SESSION_COOKIE = "relay_session"


def session_token(request: Request | WebSocket) -> str | None:
    """The caller's relay session: ``Authorization: Bearer …`` or the sign-in cookie. (A WebSocket
    opened by a page of another origin never gets here: Strawberry refuses it with 403.)"""
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
    track_loader: DataLoader[str, TrackView | None] = field(init=False)
    artist_loader: DataLoader[str, ArtistView | None] = field(init=False)
    like_count_loader: DataLoader[str, int] = field(init=False)
    liked_loader: DataLoader[str, bool] = field(init=False)
    list_loader: DataLoader[str, ListView | None] = field(init=False)
    profile_loader: DataLoader[str, ProfileView | None] = field(init=False)
    # Keyed by (list id, offset, first): a page of lists asks one window of each.
    list_items_loader: DataLoader[tuple[int, int, int], list[ListItemView]] = field(init=False)
    _viewer: Viewer | None = field(default=None, init=False)
    _auth_error: RelayError | None = field(default=None, init=False)
    _resolving: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _resolved: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        async def load(uris: list[str]) -> list[TrackView | None]:
            views = await self.services.reads.get_many(uris, await self.viewer_did())
            return [views.get(uri) for uri in uris]

        async def load_artists(dids: list[str]) -> list[ArtistView | None]:
            views = await self.services.reads.artists(dids, await self.viewer_did())
            return [views.get(did) for did in dids]

        async def load_like_counts(uris: list[str]) -> list[int]:
            counts = await self.services.likes.counts(uris)
            return [counts.get(uri, 0) for uri in uris]

        async def load_liked(uris: list[str]) -> list[bool]:
            liked = await self.services.likes.liked(await self.viewer_did(), uris)
            return [uri in liked for uri in uris]

        async def load_lists(uris: list[str]) -> list[ListView | None]:
            views = await self.services.lists.get_many(uris)
            return [views.get(uri) for uri in uris]

        async def load_list_items(
            keys: list[tuple[int, int, int]],
        ) -> list[list[ListItemView]]:
            windows: dict[tuple[int, int], list[int]] = {}
            for list_id, offset, first in keys:
                windows.setdefault((offset, first), []).append(list_id)
            found: dict[tuple[int, int, int], list[ListItemView]] = {}
            for (offset, first), ids in windows.items():  # one statement per window asked
                items = await self.services.lists.items(ids, offset=offset, first=first)
                found.update(((i, offset, first), items.get(i, [])) for i in ids)
            return [found[key] for key in keys]

        async def load_profiles(dids: list[str]) -> list[ProfileView | None]:
            views = await self.services.profiles.get_many(dids)
            return [views.get(did) for did in dids]

        self.profile_loader = DataLoader(load_fn=load_profiles)
        self.list_loader = DataLoader(load_fn=load_lists)
        self.list_items_loader = DataLoader(load_fn=load_list_items)
        self.track_loader = DataLoader(load_fn=load)
        self.artist_loader = DataLoader(load_fn=load_artists)
        # A page's like counts (and the viewer's likes) in one statement each.
        self.like_count_loader = DataLoader(load_fn=load_like_counts)
        self.liked_loader = DataLoader(load_fn=load_liked)

    async def viewer(self) -> Viewer | None:
        """The signed-in caller, or None (an invalid token reads as anonymous for queries).
        Resolvers run concurrently: the first asks, the others wait for its answer."""
        async with self._resolving:
            if not self._resolved:
                if self.token is not None:
                    try:
                        self._viewer = await self.services.sessions.authenticate(self.token)
                    except UnauthenticatedError as exc:
                        self._auth_error = exc
                self._resolved = True
        return self._viewer

    @property
    def client_address(self) -> str:
        """The address the request came from (the peer relay sees)."""
        return self.request.client.host if self.request.client else "unknown"

    async def caller_key(self) -> str:
        """Who a per-caller rate limit counts: the signed-in account, else the address."""
        did = await self.viewer_did()
        return did if did is not None else f"address:{self.client_address}"

    async def throttle(self, rule: str, key: str, *, cost: int = 1, count: bool = True) -> None:
        """Count against a rate limit (or only check it, ``count=False``); a full one answers
        HTTP 429 with ``Retry-After`` and ``RATE_LIMITED``."""
        limits = self.services.limits
        try:
            if count:
                await limits.hit(rule, key, cost=cost)
            else:
                await limits.check(rule, key)
        except RateLimitedError as exc:
            if isinstance(self.response, Response):
                self.response.status_code = 429
                self.response.headers["Retry-After"] = str(exc.retry_after)
            raise

    async def viewer_did(self) -> str | None:
        """Whose unpublished tracks this request may see (None: nobody's)."""
        viewer = await self.viewer()
        return None if viewer is None else viewer.did

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
