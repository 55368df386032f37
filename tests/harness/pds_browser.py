"""The user's browser on the reference PDS's sign-in page, without a browser.

The page is a script that calls the PDS's own JSON API (``~api/sign-in``, then ``~api/consent``);
this sends the same requests with the headers a browser would (``sec-fetch-*``, ``origin``,
``referer``, the CSRF cookie echoed in ``x-csrf-token``). Cookies are kept by hand: the PDS marks
them Secure, which cookie jars refuse to send over plain http to localhost.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import urlparse

import httpx

API = "/@atproto/oauth-provider/~api"


class PdsBrowser:
    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    def _remember(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    async def get(self, url: str, **headers: str) -> httpx.Response:
        response = await self.http.get(url, headers={**self._cookie_header(), **headers})
        self._remember(response)
        return response

    async def open_authorization_page(self, authorize_url: str) -> None:
        page = await self.get(
            authorize_url,
            **{
                "accept": "text/html",
                "sec-fetch-mode": "navigate",
                "sec-fetch-dest": "document",
                "sec-fetch-site": "cross-site",
            },
        )
        assert page.status_code == 200, page.text[:500]

    async def _api(
        self, authorize_url: str, endpoint: str, body: dict[str, object], bearer: str | None = None
    ) -> httpx.Response:
        issuer = "{0.scheme}://{0.netloc}".format(urlparse(authorize_url))
        headers = {
            **self._cookie_header(),
            "origin": issuer,
            "referer": authorize_url,
            "sec-fetch-mode": "same-origin",
            "sec-fetch-site": "same-origin",
            "sec-fetch-dest": "empty",
            "x-csrf-token": self.cookies.get("csrf-token", ""),
        }
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        response = await self.http.post(f"{issuer}{API}{endpoint}", json=body, headers=headers)
        self._remember(response)
        return response

    async def sign_in(self, authorize_url: str, username: str, password: str) -> tuple[str, str]:
        """Sign in on the page; return (the account's DID, the ephemeral token for consent)."""
        response = await self._api(
            authorize_url,
            "/sign-in",
            {"locale": "en", "username": username, "password": password, "remember": False},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return body["account"]["did"], body["ephemeralToken"]

    async def consent(self, authorize_url: str, did: str, ephemeral: str) -> str:
        """Accept; follow the PDS's redirect page; return where it sends the browser next."""
        response = await self._api(authorize_url, "/consent", {"did": did}, bearer=ephemeral)
        assert response.status_code == 200, response.text
        redirect_page = response.json()["url"]
        issuer = "{0.scheme}://{0.netloc}".format(urlparse(authorize_url))
        final = await self.get(
            redirect_page,
            **{
                "sec-fetch-mode": "navigate",
                "sec-fetch-dest": "document",
                "sec-fetch-site": "same-origin",
                "origin": issuer,
                "referer": authorize_url,
            },
        )
        assert final.status_code in (302, 303), final.text[:500]
        return final.headers["location"]

    async def authorize(self, authorize_url: str, username: str, password: str) -> str:
        """The whole dance: open the page, sign in, consent; return the callback URL."""
        await self.open_authorization_page(authorize_url)
        did, ephemeral = await self.sign_in(authorize_url, username, password)
        return await self.consent(authorize_url, did, ephemeral)
