"""``/oauth/*``: sign-in redirects, the callback, and the client's public documents."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from relay.errors import RelayError
from relay.graphql.context import SESSION_COOKIE
from relay.services.oauth_login import OAuthLogin


def _error_page(error: RelayError, status: int = 400) -> Response:
    body = (
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title>"
        f"<h1>Sign-in failed</h1><p>{html.escape(error.message)}</p>"
        '<p><a href="/">Back to relay</a></p>'
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def oauth_login(request: Request) -> Response:
    login: OAuthLogin = request.app.state.oauth_login
    identifier = request.query_params.get("handle") or request.query_params.get("identifier", "")
    try:
        url = await login.start(identifier, app_redirect=request.query_params.get("redirect_uri"))
    except RelayError as exc:
        return _error_page(exc)
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def oauth_callback(request: Request) -> Response:
    login: OAuthLogin = request.app.state.oauth_login
    params = request.query_params
    try:
        signed_in = await login.finish(
            state=params.get("state"),
            code=params.get("code"),
            iss=params.get("iss"),
            error=params.get("error"),
            error_description=params.get("error_description"),
        )
    except RelayError as exc:
        return _error_page(exc)
    if signed_in.app_redirect is not None:
        # A registered API client gets the bearer token in the fragment (never sent to servers).
        return RedirectResponse(
            f"{signed_in.app_redirect}#token={signed_in.token}",
            status_code=303,
            headers={"Cache-Control": "no-store"},
        )
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(request.app.state.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.app.state.public_url.startswith("https://"),
        path="/",
    )
    return response


async def client_metadata(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.oauth_client_metadata
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


async def jwks(request: Request) -> Response:
    keys: dict[str, Any] = request.app.state.oauth_jwks
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})
