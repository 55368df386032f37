"""``/oauth/*``: sign-in redirects, the callback, and the client's public documents."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from relay.errors import RateLimitedError, RelayError, UpstreamError
from relay.graphql.context import SESSION_COOKIE
from relay.http.state import relay_of

STATE_COOKIE = "relay_oauth_state"


def _error_page(error: RelayError, status: int = 400) -> Response:
    body = (
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title>"
        f"<h1>Sign-in failed</h1><p>{html.escape(error.message)}</p>"
        '<p><a href="/">Back to relay</a></p>'
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def oauth_login(request: Request) -> Response:
    parts = relay_of(request)
    identifier = request.query_params.get("handle") or request.query_params.get("identifier", "")
    address = request.client.host if request.client else "unknown"
    try:
        await parts.services.limits.hit("oauth_login_per_address", address)
    except RateLimitedError as exc:
        page = _error_page(exc, status=429)
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    try:
        started = await parts.oauth_login.start(
            identifier, app_redirect=request.query_params.get("redirect_uri")
        )
    except UpstreamError as exc:
        return _error_page(exc, status=502)
    except RelayError as exc:
        return _error_page(exc)
    response = RedirectResponse(started.url, status_code=303, headers={"Cache-Control": "no-store"})
    # The callback must reach the browser that started the sign-in (no forged sign-in links).
    response.set_cookie(
        STATE_COOKIE,
        started.state,
        max_age=parts.settings.oauth_request_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=parts.settings.is_production,
        path="/oauth",
    )
    return response


async def oauth_callback(request: Request) -> Response:
    login = relay_of(request).oauth_login
    params = request.query_params
    try:
        signed_in = await login.finish(
            state=params.get("state"),
            browser_state=request.cookies.get(STATE_COOKIE),
            code=params.get("code"),
            iss=params.get("iss"),
            error=params.get("error"),
            error_description=params.get("error_description"),
        )
    except RelayError as exc:
        return _error_page(exc)
    if signed_in.app_redirect is not None:
        # A registered API client gets the bearer token in the fragment (never sent to servers).
        target = f"{signed_in.app_redirect}#token={signed_in.token}"
    else:
        target = "/"
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(STATE_COOKIE, path="/oauth")  # used once
    if signed_in.app_redirect is not None:
        return response
    parts = relay_of(request)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=int(parts.session_ttl.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=parts.settings.is_production,
        path="/",
    )
    return response


async def client_metadata(request: Request) -> Response:
    document = relay_of(request).client_metadata
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


async def jwks(request: Request) -> Response:
    keys = relay_of(request).client_jwks
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})
