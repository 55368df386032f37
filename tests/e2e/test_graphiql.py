"""GraphiQL is bundled and served by relay: the page and every asset come from relay itself."""

from __future__ import annotations

import re

import httpx

from tests.harness.server import RunningRelay

CDNS = ("unpkg.com", "cdn.jsdelivr.net", "esm.sh", "cdnjs.cloudflare.com")


async def test_graphiql_is_served_without_a_cdn(relay: RunningRelay) -> None:
    async with httpx.AsyncClient(base_url=relay.url, follow_redirects=True) as http:
        page = await http.get("/graphiql")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert any(a.endswith(".js") for a in assets)
        assert any(a.endswith(".css") for a in assets)
        for asset in assets:
            assert asset.startswith("/graphiql/"), f"{asset} does not come from relay"
            fetched = await http.get(asset)
            assert fetched.status_code == 200, asset
            for cdn in CDNS:
                assert cdn not in fetched.text, f"{asset} loads from {cdn}"
        script = next(a for a in assets if a.endswith(".js"))
        bundle = (await http.get(script)).text
        assert "/graphql" in bundle  # wired to relay's own endpoint
        assert "graphql-transport-ws" in bundle  # and its subscriptions
