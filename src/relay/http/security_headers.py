"""Headers every response of relay carries, and a content security policy for its pages: no
sniffing, no framing (clickjacking), scripts and connections only from relay itself, audio and
artwork only from relay and the hosts it vouches for."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlparse

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def page_policy(audio_origins: Iterable[str]) -> str:
    media = " ".join(["'self'", *sorted(set(audio_origins))])
    return "; ".join(
        [
            "default-src 'self'",
            # SvelteKit's static pages start the app with one inline script.
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            # Artwork as audio: from relay's storage and the hosts it vouches for, no others (a
            # record's imageUrl elsewhere would let any host watch who looks at the page).
            f"img-src {media} data: blob:",  # blob: the upload form's preview of a chosen cover
            "font-src 'self' data:",
            f"media-src {media}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            # No form-action: signing in submits to /oauth/login, which redirects to the user's own
            # authorization server (any origin), and browsers apply form-action to redirects.
            "frame-ancestors 'none'",
        ]
    )


def audio_origins(urls: Iterable[str | None], hosts: Iterable[str]) -> list[str]:
    """Origins the player may fetch audio from: relay's storage URLs and vouched-for hosts."""
    origins = [f"https://{host}" for host in hosts]
    for url in urls:
        if url:
            parsed = urlparse(url)
            origins.append(f"{parsed.scheme}://{parsed.netloc}")
    return origins


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("Content-Security-Policy", self._policy)
                else:
                    headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
            await send(message)

        await self._app(scope, receive, with_headers)
