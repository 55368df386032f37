"""The s3 backend against a real radosgw: uploads, dedupe, deletes, signatures, public URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relay.errors import StorageUnavailableError
from relay.sandbox import Account, LocalNetwork
from relay.settings import Settings
from relay.storage.s3 import S3AudioStore
from tests.harness.audio import make_large_wav
from tests.harness.pds import get_record
from tests.harness.radosgw import RadosGateway
from tests.harness.server import run_relay

PART = 5 * 1024 * 1024


@pytest.fixture
async def bucket(radosgw: RadosGateway) -> str:
    return await radosgw.public_bucket()


@pytest.fixture
async def store(radosgw: RadosGateway, bucket: str) -> AsyncIterator[S3AudioStore]:
    async with radosgw.client() as s3:
        yield S3AudioStore(
            s3,
            bucket=bucket,
            public_base_url=f"{radosgw.endpoint_url}/{bucket}",
            part_size=PART,
        )


async def test_multipart_upload_dedupe_and_delete(store: S3AudioStore, tmp_path: Path) -> None:
    source = make_large_wav(tmp_path / "big.wav", 3 * PART + 12345)  # four parts
    assert await store.put("abc.wav", source, "audio/wav") is True
    assert await store.put("abc.wav", source, "audio/wav") is False  # already there
    async with httpx.AsyncClient() as http:
        response = await http.get(store.public_url("abc.wav"))
        assert response.status_code == 200
        assert response.content == source.read_bytes()
        assert response.headers["content-type"] == "audio/wav"
        ranged = await http.get(store.public_url("abc.wav"), headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206 and len(ranged.content) == 100
    await store.delete("abc.wav")
    assert await store.exists("abc.wav") is False
    await store.delete("abc.wav")  # deleting twice is fine


async def test_wrong_credentials_are_a_storage_error(
    radosgw: RadosGateway, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(b"x" * 1000)
    async with radosgw.client(secret="not-the-secret") as s3:
        bad = S3AudioStore(s3, bucket=bucket, public_base_url="http://x", part_size=PART)
        with pytest.raises(StorageUnavailableError):
            await bad.put("k.bin", source, "application/octet-stream")


async def test_upload_through_relay_into_the_bucket(
    relay_settings: Settings,
    radosgw: RadosGateway,
    bucket: str,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    settings = relay_settings.model_copy(
        update={
            "storage_backend": "s3",
            "s3_endpoint_url": radosgw.endpoint_url,
            "s3_bucket": bucket,
            "s3_access_key_id": radosgw.access_key_id,
            "s3_secret_access_key": radosgw.secret_access_key,
            "public_audio_base_url": f"{radosgw.endpoint_url}/{bucket}",
        }
    )
    settings = Settings.model_validate(settings.model_dump())
    async with (
        run_relay(settings) as relay,
        relay.client(accounts["alice"]) as alice,
        relay.client(accounts["bob"]) as bob,
    ):
        mine = (await alice.upload(audio_files["ogg"])).data["uploadTrack"]
        theirs = (await bob.upload(audio_files["ogg"])).data["uploadTrack"]
        assert mine["audioUrl"].startswith(f"{radosgw.endpoint_url}/{bucket}/")
        assert mine["audioUrl"] == theirs["audioUrl"]
        record = await get_record(network, mine["uri"])
        assert record is not None and record["value"]["audioUrl"] == mine["audioUrl"]
        async with httpx.AsyncClient() as http:
            fetched = await http.get(mine["audioUrl"])
            assert fetched.content == audio_files["ogg"].read_bytes()
            deleted = await alice.gql(
                "mutation($id: ID!) { deleteTrack(id: $id) { uri } }", {"id": mine["id"]}
            )
            assert deleted.data["deleteTrack"]["uri"] == mine["uri"]
            assert (await http.get(theirs["audioUrl"])).status_code == 200
            await bob.gql(
                "mutation($id: ID!) { deleteTrack(id: $id) { uri } }", {"id": theirs["id"]}
            )
            assert (await http.get(theirs["audioUrl"])).status_code in (403, 404)
