"""The built web app (``frontend/app``), served at ``/``: its files, and its fallback page for any
other path so that client-side routes (``/portal``, ``/artist/…``) survive a reload."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

FALLBACK_PAGE = "200.html"  # what SvelteKit's static adapter writes for `fallback`
IMMUTABLE_PREFIX = "_app/immutable/"  # content-hashed file names
# relay's own routes: a path under them that no route matched is a 404, never the app's page.
RESERVED = ("_app/", "audio/", "oauth/", "graphql", "graphiql", "metrics", "healthz")


class SinglePageApp(StaticFiles):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)
        self._fallback = directory / FALLBACK_PAGE

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            # A missing build asset or API path stays a 404; any other path is a page the app
            # routes itself (paths may hold dots: /artist/did:web:example.com).
            requested = str(scope.get("path", "")).lstrip("/")
            if exc.status_code != 404 or requested.startswith(RESERVED):
                raise
            response = FileResponse(self._fallback, media_type="text/html")
        if path.startswith(IMMUTABLE_PREFIX):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
