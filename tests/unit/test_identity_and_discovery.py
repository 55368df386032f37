"""Identity resolution and OAuth discovery over the outbound client, against hosts that answer as
a stranger's might: documents for someone else, endpoints off the issuer's origin, oversized or
failing answers whose details must not reach relay's callers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from relay.atproto.identity import AtprotoIdentityResolver, normalize_handle
from relay.atproto.oauth import ClientConfig, OAuthClient
from relay.clock import SystemClock
from relay.errors import BadUserInputError, IdentityError, UpstreamError
from relay.net.outbound import OutboundPolicy, outbound_client
from tests.harness.listener import (
    FakeOfflineDns,
    Listener,
    answer,
    json_answer,
    listening,
    routes,
)

DID = "did:plc:" + "a" * 24
OTHER = "did:plc:" + "b" * 24


def document(
    did: str, *, handle: str = "ada.net", pds: str = "https://pds.example"
) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"],
        "verificationMethod": [],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        ],
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The listeners are on 127.0.0.1, as in development; other names do not resolve.
    policy = OutboundPolicy(allow_private=True)
    async with outbound_client(policy, resolve=FakeOfflineDns()) as client:
        yield client


@pytest.mark.parametrize(
    "identifier",
    [
        "http://127.0.0.1:8080/",
        "127.0.0.1",
        "localhost:2583",
        "[::1]",
        "ada.example/../admin",
        "ada.example#x",
        "user@ada.example",
        "ada..example",
        "-ada.example",
        "ada.example.",
        "a" * 64 + ".example",
        "nodots",
    ],
)
def test_what_is_not_a_handle_is_refused_before_any_lookup(identifier: str) -> None:
    with pytest.raises(IdentityError):
        normalize_handle(identifier)


@pytest.mark.parametrize("handle", ["ada.example", "@Ada.Example", "x.bsky.social", "a-b.c1.io"])
def test_handles(handle: str) -> None:
    assert normalize_handle(handle) == handle.lower().removeprefix("@")


async def resolver(
    http: httpx.AsyncClient, plc: Listener, **txt: list[str]
) -> AtprotoIdentityResolver:
    async def lookup(qname: str, lifetime: float) -> list[str]:
        return txt.get(qname.removeprefix("_atproto.").replace(".", "_"), [])

    return AtprotoIdentityResolver(plc_url=plc.url, http=http, txt=lookup)


async def test_a_handle_resolves_by_dns_and_must_be_claimed_back(http: httpx.AsyncClient) -> None:
    plc = routes({f"/{DID}": json_answer(document(DID))})
    async with listening(plc) as listener:
        ids = await resolver(http, listener, ada_net=[f"did={DID}"], bo_net=[f"did={DID}"])
        found = await ids.resolve("Ada.Net")
        assert (found.did, found.handle, found.pds_url) == (DID, "ada.net", "https://pds.example")
        with pytest.raises(IdentityError, match="does not claim it"):
            await ids.resolve("bo.net")  # bo.net points at Ada's DID; Ada never said so


async def test_two_dids_in_dns_resolve_to_neither(http: httpx.AsyncClient) -> None:
    async with listening(routes({})) as listener:
        ids = await resolver(http, listener, ada_net=[f"did={DID}", f"did={OTHER}"])
        with pytest.raises(IdentityError, match="does not resolve"):
            await ids.resolve("ada.net")


@pytest.mark.parametrize(
    ("served", "problem"),
    [
        (json_answer(document(OTHER)), "another DID's"),
        (json_answer({"id": DID}), "names no PDS"),
        (json_answer(document(DID, pds="https://pds.example/xrpc?x=1")), "not an origin"),
        (json_answer(document(DID, pds="ftp://pds.example")), "PDS"),
        # Hosts no request could reach: httpx raised InvalidURL (no HTTPError) or IDNA's
        # UnicodeError for them when relay first asked, which a backfill run did not survive.
        (json_answer(document(DID, pds="https://[zz]")), "PDS"),
        (json_answer(document(DID, pds="https://pds.example:99999")), "no usable PDS"),
        (json_answer(document(DID, pds="https://p\u00e4s.example")), "no usable PDS"),
        (json_answer(document(DID, pds="https://ex ample.com")), "no usable PDS"),
        (json_answer(document(DID, pds="https://" + "a" * 64 + ".example")), "no usable PDS"),
        (json_answer(["not", "an", "object"]), None),
        (answer("200 OK", b"{" * 100_000), None),
        (json_answer({}, status="404 Not Found"), "was not found"),
    ],
)
async def test_a_did_document_is_checked_before_use(
    http: httpx.AsyncClient, served: Any, problem: str | None
) -> None:
    async with listening(routes({f"/{DID}": served})) as listener:
        ids = await resolver(http, listener)
        if problem is None:
            with pytest.raises(UpstreamError):
                await ids.resolve(DID)
        else:
            with pytest.raises(IdentityError, match=problem):
                await ids.resolve(DID)


async def test_upstream_failures_are_told_in_relays_words(http: httpx.AsyncClient) -> None:
    leaky = answer("500 Internal Server Error", b"stack trace: /srv/plc/secret.py line 3")
    async with listening(routes({f"/{DID}": leaky})) as listener:
        with pytest.raises(UpstreamError) as failed:
            await (await resolver(http, listener)).resolve(DID)
    assert "500" not in failed.value.message and "secret" not in failed.value.message


@pytest.mark.parametrize("did", ["did:key:zQ3sh", "did:plc:short", "did:web:a.example:path:x"])
async def test_unsupported_or_malformed_dids_make_no_request(
    http: httpx.AsyncClient, did: str
) -> None:
    async with listening(routes({})) as listener:
        with pytest.raises(IdentityError):
            await (await resolver(http, listener)).resolve(did)
    assert listener.connections == 0


def authorization_server(issuer: str, **endpoints: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "dpop_signing_alg_values_supported": ["ES256"],
        **endpoints,
    }


def oauth(http: httpx.AsyncClient, *, require_https: bool) -> OAuthClient:
    config = ClientConfig(
        client_id="http://localhost", redirect_uri="http://127.0.0.1/cb", scope="atproto"
    )
    return OAuthClient(http, config, SystemClock(), require_https=require_https)


async def serve_metadata(**endpoints: str) -> Any:
    """A listener serving authorization-server metadata for its own URL as issuer."""
    state: dict[str, str] = {}

    async def metadata(head: bytes, writer: Any) -> None:
        await json_answer(authorization_server(state["issuer"], **endpoints))(head, writer)

    return state, routes({"/.well-known/oauth-authorization-server": metadata})


@pytest.mark.parametrize(
    "endpoint",
    [
        "token_endpoint",
        "pushed_authorization_request_endpoint",
        "authorization_endpoint",
        "revocation_endpoint",
    ],
)
async def test_authorization_server_endpoints_stay_on_the_issuers_origin(
    http: httpx.AsyncClient, endpoint: str
) -> None:
    state, served = await serve_metadata(**{endpoint: "http://169.254.169.254/latest/meta-data"})
    async with listening(served) as issuer:
        state["issuer"] = issuer.url
        with pytest.raises(UpstreamError, match="off its own origin"):
            await oauth(http, require_https=False).server(issuer.url)


async def test_same_origin_metadata_is_accepted(http: httpx.AsyncClient) -> None:
    state, served = await serve_metadata()
    async with listening(served) as issuer:
        state["issuer"] = issuer.url
        server = await oauth(http, require_https=False).server(issuer.url)
    assert server.token_endpoint == f"{issuer.url}/oauth/token"


async def test_production_wants_https_everywhere(http: httpx.AsyncClient) -> None:
    async with listening(routes({})) as listener:
        client = oauth(http, require_https=True)
        with pytest.raises(BadUserInputError, match="https"):
            await client.issuer_of(listener.url)
        with pytest.raises(BadUserInputError, match="https"):
            await client.server(listener.url)
    assert listener.connections == 0


async def test_a_handle_is_shown_only_when_it_resolves_back(http: httpx.AsyncClient) -> None:
    """Ada's DID document claims ada.net; only when ada.net points back at Ada is it hers."""
    plc = routes({f"/{DID}": json_answer(document(DID))})
    async with listening(plc) as listener:
        confirmed = await resolver(http, listener, ada_net=[f"did={DID}"])
        assert (await confirmed.resolve(DID)).handle == "ada.net"
        elsewhere = await resolver(http, listener, ada_net=[f"did={OTHER}"])
        assert (await elsewhere.resolve(DID)).handle is None
        nowhere = await resolver(http, listener)
        assert (await nowhere.resolve(DID)).handle is None
