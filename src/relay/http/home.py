"""``GET /``: who is signed in, and a sign-in form — until the web app is served here."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from relay.errors import UnauthenticatedError
from relay.graphql.context import Services, session_token

_PAGE = """<!doctype html><html lang=en><meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1"><title>relay</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
code{{background:#eee;padding:0 .2em}}</style>
<h1>relay</h1>{body}
<p>The GraphQL API is at <code>/graphql</code>; see README.md for the operations.</p></html>"""


async def home(request: Request) -> Response:
    services: Services = request.app.state.services
    token = session_token(request)
    viewer = None
    if token:
        try:
            viewer = await services.sessions.authenticate(token)
        except UnauthenticatedError:
            viewer = None
    if viewer is not None:
        body = (
            f"<p>Signed in as <strong>{html.escape(viewer.handle)}</strong> "
            f"(<code>{html.escape(viewer.did)}</code>) on {html.escape(viewer.pds_url)}.</p>"
        )
    else:
        body = (
            '<form action="/oauth/login" method="get">'
            "<label for=handle>Sign in with your handle or PDS URL</label><br>"
            '<input id=handle name=handle placeholder="alice.bsky.social" required> '
            "<button>Sign in</button></form>"
        )
    return HTMLResponse(_PAGE.format(body=body), headers={"Cache-Control": "no-store"})
