"""Sign in with atproto OAuth against the reference PDS's own authorization server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from relay.atproto.grants import PdsAuth
from relay.atproto.pds import XrpcPdsClient
from relay.atproto.tid import TidClock
from relay.db.models import SessionRow
from relay.errors import InsufficientScopeError, UnauthenticatedError
from relay.sandbox import Account, LocalNetwork
from relay.services.sessions import OAUTH
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import get_record
from tests.harness.pds_browser import PdsBrowser
from tests.harness.server import RunningRelay, run_relay

TRACK = "query($u: String!) { track(uri: $u) { publishState publishError } }"


# The user's browser as relay sees it: one cookie jar from /oauth/login to /oauth/callback.
_browsers: dict[str, httpx.Cookies] = {}


async def _start(relay: RunningRelay, identifier: str, **extra: str) -> httpx.Response:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        answer = await http.get(f"{relay.url}/oauth/login", params={"handle": identifier, **extra})
        _browsers[relay.url] = http.cookies
        return answer


async def _callback(url: str, *, same_browser: bool = True) -> httpx.Response:
    base = url.split("/oauth/", 1)[0]
    cookies = _browsers.get(base) if same_browser else None
    async with httpx.AsyncClient(follow_redirects=False, cookies=cookies) as http:
        return await http.get(url)


async def sign_in(
    relay: RunningRelay, identifier: str, user: Account, **extra: str
) -> httpx.Response:
    """The browser's round trip: relay → PDS sign-in page → relay's callback."""
    started = await _start(relay, identifier, **extra)
    assert started.status_code == 303, started.text
    browser = PdsBrowser()
    try:
        callback = await browser.authorize(started.headers["location"], user.handle, user.password)
    finally:
        await browser.aclose()
    return await _callback(callback)


def cookie_token(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    token = response.cookies.get("relay_session")
    assert token, response.headers
    return token


async def test_oauth_sign_in_publishes_with_a_dpop_bound_session(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    alice = accounts["alice"]
    response = await sign_in(relay, "alice.test", alice)
    assert response.headers["location"] == "/"
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert "secure" not in set_cookie  # relay's public URL is http here
    token = cookie_token(response)

    async with httpx.AsyncClient(base_url=relay.url, cookies={"relay_session": token}) as http:
        viewer = await http.post("/graphql", json={"query": "{ viewer { did handle pdsUrl } }"})
    assert viewer.json()["data"]["viewer"] == {
        "did": alice.did,
        "handle": "alice.test",
        "pdsUrl": network.pds_url,
    }
    track = (await client.upload(audio_files["mp3"], token=token)).data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", track["publishError"]
    assert await get_record(network, track["uri"]) is not None

    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
    assert row.auth_kind == OAUTH
    assert row.scope is not None and "repo:app.relay.track" in row.scope
    assert row.dpop_key is not None and row.dpop_key.startswith("v1:")  # sealed
    assert '"d"' not in row.dpop_key


async def session_auth(relay: RunningRelay, token: str) -> PdsAuth:
    """The PDS credentials relay holds for the session behind ``token``."""
    sessions = relay.parts.services.sessions
    return await sessions.auth_for_viewer(await sessions.authenticate(token))


async def write_directly(auth: PdsAuth, collection: str, record: dict[str, object]) -> None:
    """A PDS write with a session's own credentials, outside relay's services."""
    async with httpx.AsyncClient() as http:
        await XrpcPdsClient(http, timeout=10).put_record(
            auth, collection=collection, rkey=TidClock().next(), record=record, swap_record=None
        )


async def test_granted_scope_is_honoured_by_the_pds(
    relay: RunningRelay, accounts: dict[str, Account]
) -> None:
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    auth = await session_auth(relay, token)
    # The same DPoP-bound token may not write outside app.relay.track.
    with pytest.raises(InsufficientScopeError):
        await write_directly(
            auth,
            "app.bsky.feed.post",
            {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-01-01T00:00:00Z"},
        )


async def test_expired_access_token_is_refreshed_transparently(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    box = relay.secret_box()
    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
        before = box.open(row.access_token, context="access_token")
        row.token_expires_at = datetime.now(UTC) - timedelta(minutes=5)
    track = (await client.upload(audio_files["ogg"], token=token)).data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", track["publishError"]
    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
        assert box.open(row.access_token, context="access_token") != before
        assert row.token_expires_at is not None and row.token_expires_at > datetime.now(UTC)


async def test_concurrent_requests_share_one_refresh(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
        row.token_expires_at = datetime.now(UTC) - timedelta(minutes=5)
    # Refresh tokens rotate: a second refresh with the old one would be refused.
    results = await asyncio.gather(
        *(client.upload(audio_files[fmt], token=token) for fmt in ("mp3", "ogg", "wav", "flac"))
    )
    states = [r.data["uploadTrack"]["publishState"] for r in results]
    assert states == ["PUBLISHED"] * 4, [r.data["uploadTrack"]["publishError"] for r in results]


async def test_unusable_refresh_token_ends_the_session(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    track = (await client.upload(audio_files["mp3"], publish=False, token=token)).data[
        "uploadTrack"
    ]
    box = relay.secret_box()
    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
        row.refresh_token = box.seal("ref-garbage", context="refresh_token")
        row.token_expires_at = datetime.now(UTC) - timedelta(minutes=5)
    relay.parts.services.sessions.forget_grants()  # as after a restart: read from the DB
    result = await client.gql(
        "mutation($id: ID!) { publishTrack(id: $id) { publishState } }",
        {"id": track["id"]},
        token=token,
    )
    assert result.codes == ["UNAUTHENTICATED"]
    assert "log in again" in result.messages[0]
    after = await client.gql("{ viewer { did } }", token=token)
    assert after.data["viewer"] is None


async def authorized_callback(relay: RunningRelay, user: Account) -> dict[str, str]:
    """The query relay's callback would get after ``user`` signs in and consents."""
    started = await _start(relay, user.handle)
    browser = PdsBrowser()
    try:
        callback = await browser.authorize(started.headers["location"], user.handle, user.password)
    finally:
        await browser.aclose()
    return {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}


async def test_tampered_state_is_rejected(
    relay: RunningRelay, accounts: dict[str, Account]
) -> None:
    params = await authorized_callback(relay, accounts["alice"])
    forged = await _callback(
        f"{relay.url}/oauth/callback?{urlencode({**params, 'state': params['state'] + 'x'})}"
    )
    assert forged.status_code == 400
    assert "unknown or expired sign-in" in forged.text
    assert "relay_session" not in forged.cookies


async def test_a_callback_in_another_browser_is_rejected(
    relay: RunningRelay, accounts: dict[str, Account]
) -> None:
    """A sign-in link completed in a browser that did not start it (a forged sign-in)."""
    params = await authorized_callback(relay, accounts["alice"])
    elsewhere = await _callback(
        f"{relay.url}/oauth/callback?{urlencode(params)}", same_browser=False
    )
    assert elsewhere.status_code == 400
    assert "started elsewhere" in elsewhere.text
    assert "relay_session" not in elsewhere.cookies


async def test_wrong_issuer_is_rejected(relay: RunningRelay, accounts: dict[str, Account]) -> None:
    params = await authorized_callback(relay, accounts["alice"])
    params["iss"] = "https://evil.example"
    answer = await _callback(f"{relay.url}/oauth/callback?{urlencode(params)}")
    assert answer.status_code == 400
    assert "unexpected issuer" in answer.text


async def test_signing_in_as_someone_else_is_rejected(
    relay: RunningRelay, client: RelayClient, accounts: dict[str, Account]
) -> None:
    # Asked for alice, but the person at the PDS signs in as bob: the token's sub won't match.
    answer = await sign_in(relay, "alice.test", accounts["bob"])
    assert answer.status_code == 400
    assert "different account" in answer.text
    assert "relay_session" not in answer.cookies


async def test_sign_in_from_a_pds_url_and_api_client_redirect(
    relay_settings: Settings, network: LocalNetwork, accounts: dict[str, Account]
) -> None:
    app_url = "http://127.0.0.1:9/app-callback"
    settings = relay_settings.model_copy(update={"oauth_app_redirects": [app_url]})
    async with run_relay(settings) as relay:
        refused = await _start(relay, network.pds_url, redirect_uri="http://evil.example/steal")
        assert refused.status_code == 400
        assert "not registered" in refused.text

        answer = await sign_in(relay, network.pds_url, accounts["carol"], redirect_uri=app_url)
        assert answer.status_code == 303
        location = answer.headers["location"]
        assert location.startswith(f"{app_url}#token=")
        token = location.split("#token=", 1)[1]
        async with relay.client() as client:
            viewer = await client.gql("{ viewer { did } }", token=token)
        assert viewer.data["viewer"] == {"did": accounts["carol"].did}


async def test_logout_revokes_at_the_authorization_server(
    relay: RunningRelay,
    client: RelayClient,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    auth = await session_auth(relay, token)
    async with httpx.AsyncClient(base_url=relay.url, cookies={"relay_session": token}) as http:
        out = await http.post(
            "/graphql",
            json={"query": "mutation { logout }"},
            headers={"content-type": "application/json"},
        )
    assert out.json()["data"]["logout"] is True
    assert (
        'relay_session=""' in out.headers["set-cookie"]
        or "max-age=0" in out.headers["set-cookie"].lower()
    )
    assert (await client.gql("{ viewer { did } }", token=token)).data["viewer"] is None
    # The revoked DPoP-bound token no longer works at the PDS.
    with pytest.raises(UnauthenticatedError):
        await write_directly(auth, "app.relay.track", {"$type": "app.relay.track"})


async def test_scope_without_app_relay_track_fails_clearly_at_publish(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    narrow = relay_settings.model_copy(update={"oauth_scope": "atproto repo:app.example.other"})
    async with run_relay(narrow) as relay:
        token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
        async with relay.client() as client:
            client.token = token
            track = (await client.upload(audio_files["mp3"])).data["uploadTrack"]
            assert track["publishState"] == "FAILED"
            assert "app.relay.track" in track["publishError"]
            assert "sign in again" in track["publishError"]
            retry = await client.gql(
                "mutation($id: ID!) { publishTrack(id: $id) { publishState publishError } }",
                {"id": track["id"]},
            )
            assert retry.data["publishTrack"]["publishState"] == "FAILED"


async def test_confidential_client_documents_are_served(relay_settings: Settings) -> None:
    from relay.keys import new_client_key_json

    settings = relay_settings.model_copy(
        update={
            "public_url": "https://relay.example",
            "secret_key": SecretStr("s" * 48),
            "oauth_client_key": SecretStr(new_client_key_json()),
        }
    )
    async with run_relay(settings) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        document = (await http.get("/oauth/client-metadata.json")).json()
        keys = (await http.get("/oauth/jwks.json")).json()
    assert document["client_id"] == "https://relay.example/oauth/client-metadata.json"
    assert document["token_endpoint_auth_method"] == "private_key_jwt"
    assert [key["kty"] for key in keys["keys"]] == ["EC"]
    assert "d" not in keys["keys"][0]


async def test_the_sign_in_cookie_is_who_the_web_app_sees(
    relay: RunningRelay, accounts: dict[str, Account]
) -> None:
    query = {"query": "{ viewer { handle } }"}
    async with httpx.AsyncClient(base_url=relay.url) as http:
        assert (await http.post("/graphql", json=query)).json()["data"]["viewer"] is None
    token = cookie_token(await sign_in(relay, "alice.test", accounts["alice"]))
    async with httpx.AsyncClient(base_url=relay.url, cookies={"relay_session": token}) as http:
        page = await http.get("/")
        viewer = (await http.post("/graphql", json=query)).json()["data"]["viewer"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert viewer == {"handle": "alice.test"}
