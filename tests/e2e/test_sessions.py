"""Relay sessions: hashed tokens at rest, PDS tokens refreshed when they expire."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from relay.crypto import SecretBox
from relay.db.models import SessionRow
from relay.errors import SecretBoxError
from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.pds import get_record
from tests.harness.server import RunningRelay, run_relay


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _session_rows(relay: RunningRelay) -> list[SessionRow]:
    async with relay.database() as db:
        return list((await db.execute(select(SessionRow))).scalars())


async def _set_access_token(relay: RunningRelay, token: str) -> None:
    async with relay.database() as db:
        row = (await db.execute(select(SessionRow))).scalar_one()
        row.access_token = relay.secret_box().seal(token, context="access_token")


async def _access_token(relay: RunningRelay) -> str:
    (row,) = await _session_rows(relay)
    return relay.secret_box().open(row.access_token, context="access_token")


async def test_only_a_hash_of_the_token_is_stored_and_pds_tokens_are_sealed(
    client: RelayClient, alice: str, relay: RunningRelay
) -> None:
    rows = await _session_rows(relay)
    assert len(rows) == 1
    row = rows[0]
    assert len(row.token_hash) == 64
    assert all(alice not in str(value) for value in row.__dict__.values())
    # The PDS tokens are JWTs ("eyJ…") only once opened with relay's secret key.
    assert row.access_token.startswith("v1:")
    assert row.refresh_token is not None and row.refresh_token.startswith("v1:")
    assert "eyJ" not in row.access_token + row.refresh_token
    assert (await _access_token(relay)).startswith("eyJ")
    wrong = SecretBox("another-secret-key-of-enough-length-0123456789")
    with pytest.raises(SecretBoxError):
        wrong.open(row.access_token, context="access_token")


async def test_expired_access_token_is_refreshed_before_the_write(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    # An access token whose exp has passed: relay must refresh with the refresh token first.
    expired = f"{_b64({'alg': 'ES256K'})}.{_b64({'exp': int(time.time()) - 60})}.sig"
    await _set_access_token(relay, expired)
    track = (await client.upload(audio_files["mp3"], token=alice)).data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", track["publishError"]
    assert await get_record(network, track["uri"]) is not None
    assert await _access_token(relay) != expired  # the refreshed tokens were persisted


async def test_access_token_rejected_by_the_pds_is_refreshed_and_retried(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    network: LocalNetwork,
    audio_files: dict[str, Path],
) -> None:
    # Not expired by its own claims, but the PDS refuses it (bad signature).
    forged = f"{_b64({'alg': 'HS256'})}.{_b64({'exp': int(time.time()) + 3600})}.forged"
    await _set_access_token(relay, forged)
    track = (await client.upload(audio_files["ogg"], token=alice)).data["uploadTrack"]
    assert track["publishState"] == "PUBLISHED", track["publishError"]
    assert await _access_token(relay) != forged


async def test_sessions_survive_a_secret_key_rotation(
    relay_settings: Settings, accounts: dict[str, Account], audio_files: dict[str, Path]
) -> None:
    old, new = SecretStr("o" * 40), SecretStr("n" * 40)
    before = relay_settings.model_copy(update={"secret_key": old})
    async with run_relay(before, in_process=True) as relay, relay.client(accounts["alice"]) as c:
        token = c.token
    rotated = relay_settings.model_copy(update={"secret_key": new, "secret_key_previous": [old]})
    async with run_relay(rotated, in_process=True) as relay, relay.client() as c:
        c.token = token
        track = (await c.upload(audio_files["mp3"], title="After rotation")).data["uploadTrack"]
        assert track["publishState"] == "PUBLISHED", track["publishError"]
    forgotten = relay_settings.model_copy(update={"secret_key": new})
    async with run_relay(forgotten, in_process=True) as relay, relay.client() as c:
        c.token = token
        result = await c.upload(audio_files["ogg"], title="Old key dropped")
        assert result.codes == ["UNAUTHENTICATED"]  # its PDS tokens cannot be read any more
        assert "log in again" in result.messages[0]
