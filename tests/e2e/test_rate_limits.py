"""Rate limits per client address and per identity — in process, or shared by every replica
through Redis — answered with HTTP 429, RATE_LIMITED and Retry-After."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from relay.sandbox import Account
from relay.settings import Settings
from tests.harness.client import GraphQLResult, RelayClient
from tests.harness.server import run_relay

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LOGIN = "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }"


# Limits in these tests are per day: the limiter's windows are sliding counters over fixed
# windows, and a test that crossed a minute's boundary saw its earlier requests weigh less.


def limited(result: GraphQLResult) -> bool:
    return result.status == 429 and result.codes == ["RATE_LIMITED"]


async def login(client: RelayClient, account: Account, password: str) -> GraphQLResult:
    response = await client.http.post(
        "/graphql", json={"query": LOGIN, "variables": {"i": account.handle, "p": password}}
    )
    result = GraphQLResult(response.status_code, response.json())
    if result.status == 429:
        assert int(response.headers["Retry-After"]) >= 1
    return result


async def test_failed_logins_per_identifier_stop_before_the_pds(
    relay_settings: Settings, accounts: dict[str, Account]
) -> None:
    settings = relay_settings.model_copy(update={"rate_failed_logins_per_identifier": "3/day"})
    async with run_relay(settings, in_process=True) as relay, relay.client() as client:
        for _ in range(3):
            assert (await login(client, accounts["bob"], "wrong")).codes == ["UNAUTHENTICATED"]
        # Even the right password is refused now: the PDS is not asked.
        assert limited(await login(client, accounts["bob"], accounts["bob"].password))
        # Another account is not affected.
        ok = await login(client, accounts["carol"], accounts["carol"].password)
        assert ok.data["login"]["token"]


async def test_logins_are_limited_per_address(
    relay_settings: Settings, accounts: dict[str, Account]
) -> None:
    settings = relay_settings.model_copy(update={"rate_login_per_address": "2/day"})
    async with run_relay(settings, in_process=True) as relay, relay.client() as client:
        for account in (accounts["bob"], accounts["carol"]):
            assert (await login(client, account, account.password)).data["login"]["token"]
        assert limited(await login(client, accounts["alice"], accounts["alice"].password))


async def test_uploads_are_limited_per_caller(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    settings = relay_settings.model_copy(update={"rate_uploads_per_caller": "1/hour"})
    async with run_relay(settings, in_process=True) as relay, relay.client(accounts["alice"]) as c:
        assert (await c.upload(audio_files["mp3"], publish=False)).data["uploadTrack"]
        second = await c.upload(audio_files["ogg"], publish=False)
        assert limited(second)
        assert "uploads_per_caller" in second.messages[0]
    async with run_relay(settings, in_process=True) as relay, relay.client(accounts["bob"]) as c:
        assert (await c.upload(audio_files["ogg"], publish=False)).data["uploadTrack"]


async def test_mutations_are_limited_per_caller(
    relay_settings: Settings, accounts: dict[str, Account]
) -> None:
    settings = relay_settings.model_copy(update={"rate_mutations_per_caller": "3/day"})
    async with run_relay(settings, in_process=True) as relay, relay.client(accounts["alice"]) as c:
        # (Signing in counted against the address; these count against alice's account.)
        mutation = 'mutation { deleteTrack(id: "VHJhY2s6eA==") { uri } }'
        results = [await c.gql(mutation) for _ in range(4)]
        assert [r.codes for r in results] == [["NOT_FOUND"]] * 3 + [["RATE_LIMITED"]]
        assert results[-1].status == 429


async def test_upload_bytes_are_limited(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    settings = relay_settings.model_copy(update={"rate_upload_bytes_per_caller": "1000/hour"})
    async with run_relay(settings, in_process=True) as relay, relay.client(accounts["alice"]) as c:
        assert limited(await c.upload(audio_files["wav"], publish=False))


async def test_oauth_login_is_limited_per_address(relay_settings: Settings) -> None:
    settings = relay_settings.model_copy(update={"rate_oauth_login_per_address": "2/day"})
    async with run_relay(settings, in_process=True) as relay, relay.client() as client:
        answers = [
            await client.http.get("/oauth/login", params={"handle": "nobody.invalid"})
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [400, 400, 429]
        assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_replicas_share_their_limits_through_redis(
    relay_settings: Settings, accounts: dict[str, Account]
) -> None:
    settings = relay_settings.model_copy(
        update={
            "redis_url": "redis://127.0.0.1:6379/0",
            "rate_limit_namespace": f"relay-test-{secrets.token_hex(4)}",
            "rate_login_per_address": "2/day",
        }
    )
    async with (
        run_relay(settings, in_process=True) as a,
        run_relay(settings, in_process=True) as b,
        a.client() as on_a,
        b.client() as on_b,
    ):
        for client in (on_a, on_a):
            assert (await login(client, accounts["bob"], accounts["bob"].password)).data
        assert limited(await login(on_b, accounts["bob"], accounts["bob"].password))
