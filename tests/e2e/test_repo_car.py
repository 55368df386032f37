"""A repo fetched as one CAR (sync.getRepo) from the real sandbox PDS: spooled to disk as it
arrives, walked off the event loop, verified against the repo's key, and refused — with a clear
reason and nothing left behind — when it is larger than its bounds or signed by another key."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from atproto_core.did_doc import DidDocument

from relay.atproto.repos import CarBounds, RepoClient
from relay.errors import RepoUnavailableError
from relay.net.outbound import OutboundPolicy, outbound_client
from relay.sandbox import Account, LocalNetwork
from tests.harness.pds import create_record, track_record


async def _signing_key(network: LocalNetwork, account: Account) -> str:
    async with httpx.AsyncClient() as http:
        document = (await http.get(f"{network.plc_url}/{account.did}")).json()
    key = DidDocument.from_dict(document).get_did_key()
    assert isinstance(key, str)
    return key


async def test_a_repo_car_is_spooled_walked_and_bounded(
    network: LocalNetwork, tmp_path: Path
) -> None:
    account = network.create_account(f"car{secrets.token_hex(3)}.test")
    other = network.create_account(f"oth{secrets.token_hex(3)}.test")
    for i in range(3):
        await create_record(network, account, track_record(f"Car {i}"))
    key = await _signing_key(network, account)
    spool = tmp_path / "spool"
    spool.mkdir()

    async with outbound_client(OutboundPolicy(allow_private=True)) as http:

        async def export(bounds: CarBounds, signing_key: str = key) -> list[str]:
            repos = RepoClient(http, car=bounds)
            _, records = await repos.export_records(
                network.pds_url, account.did, ["app.relay.track"], signing_key=signing_key
            )
            return sorted(record.value["title"] for record in records["app.relay.track"])

        assert await export(CarBounds(spool_dir=spool)) == ["Car 0", "Car 1", "Car 2"]
        with pytest.raises(RepoUnavailableError, match="larger than 512 bytes"):
            await export(CarBounds(max_bytes=512, spool_dir=spool))
        with pytest.raises(RepoUnavailableError, match="could not be verified"):
            await export(CarBounds(max_blocks=2, spool_dir=spool))
        with pytest.raises(RepoUnavailableError, match="could not be verified"):
            await export(CarBounds(spool_dir=spool), await _signing_key(network, other))
    assert list(spool.iterdir()) == [], "a spooled CAR outlived its walk"
