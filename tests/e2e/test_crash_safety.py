"""relay killed with SIGKILL at random points during uploads, publishes, updates and deletes,
then restarted: once its publish worker and collector have run, storage, the PDS and the index
agree. Checked over many trials, on SQLite and PostgreSQL, on the filesystem and on radosgw."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relay.db.engine import create_engine, session_factory
from relay.db.models import AudioObjectRow, TrackRow
from relay.sandbox import Account, LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.audio import make_audio
from tests.harness.client import RelayClient
from tests.harness.processes import relay_env, until_serving
from tests.harness.radosgw import RadosGateway
from tests.harness.waiting import eventually

TRIALS = 5  # per database and storage: 20 kills in all (CI time; raise it when changing recovery)
TRACKS = """
query($d: String!) { tracks(first: 100, where: {artistDid: $d}) { edges { node { id } } } }
"""
PUBLISH = "mutation($id: ID!) { publishTrack(id: $id) { publishState } }"
UPDATE = "mutation($id: ID!, $t: String!) { updateTrack(id: $id, input: {title: $t}) { title } }"
DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { uri } }"


@dataclass
class Deployment:
    settings: Settings
    env: dict[str, str]
    url: str
    account: Account
    network: LocalNetwork
    radosgw: RadosGateway | None
    bucket: str | None


@pytest.fixture(params=["filesystem", "s3"])
async def deployment(
    request: pytest.FixtureRequest,
    relay_settings: Settings,
    network: LocalNetwork,
) -> Deployment:
    port = free_port()
    env = {
        "RELAY_PORT": str(port),
        "RELAY_PDS_TIMEOUT_SECONDS": "1",
        "RELAY_TRACK_LEASE_SECONDS": "3",
        "RELAY_PUBLISH_RETRY_BASE_SECONDS": "0.2",
        "RELAY_PUBLISH_RETRY_MAX_SECONDS": "1",
        "RELAY_PUBLISH_WORKER_INTERVAL_SECONDS": "0.2",
        # Short, not 0: a killed process's last PUT may still land in radosgw after the new
        # process starts; with no grace its collector removed the intended object first, and
        # the PUT then left an object no row knows (production waits 600 s).
        "RELAY_AUDIO_GRACE_SECONDS": "2",
        "RELAY_COLLECTOR_INTERVAL_SECONDS": "0.2",
        "RELAY_AUDIO_REMOVAL_TIMEOUT_SECONDS": "2",
        "RELAY_LOG_LEVEL": "WARNING",
    }
    gateway, bucket = None, None
    if request.param == "s3":
        gateway = request.getfixturevalue("radosgw")
        bucket = await gateway.public_bucket()
        env |= {
            "RELAY_STORAGE_BACKEND": "s3",
            "RELAY_S3_ENDPOINT_URL": gateway.endpoint_url,
            "RELAY_S3_BUCKET": bucket,
            "RELAY_S3_ACCESS_KEY_ID": gateway.access_key_id,
            "RELAY_S3_SECRET_ACCESS_KEY": gateway.secret_access_key,
            "RELAY_PUBLIC_AUDIO_BASE_URL": f"{gateway.endpoint_url}/{bucket}",
        }
    account = network.create_account(f"crash{random.randrange(10**6)}.test")
    return Deployment(
        settings=relay_settings,
        env=relay_env(relay_settings, **env),
        url=f"http://127.0.0.1:{port}",
        account=account,
        network=network,
        radosgw=gateway,
        bucket=bucket,
    )


@asynccontextmanager
async def relay_serving(
    deployment: Deployment, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``relay serve`` as its own process; the caller may SIGKILL it, else it gets SIGINT."""
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay.cli", "serve", env=deployment.env, stdout=out, stderr=out
        )
    try:
        await until_serving(deployment.url, proc)
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 30)


async def random_work(client: RelayClient, deployment: Deployment, audio: list[Path]) -> None:
    """Uploads (some of the same bytes, some drafts), publishes, updates and deletes, at once."""
    listed = await client.gql(TRACKS, {"d": deployment.account.did})
    tracks = [edge["node"] for edge in listed.data["tracks"]["edges"]]
    jobs: list[Any] = []
    for _ in range(random.randint(3, 7)):
        choice = random.random()
        if choice < 0.45 or not tracks:
            jobs.append(client.upload(random.choice(audio), publish=random.random() < 0.7))
        elif choice < 0.6:
            jobs.append(client.gql(PUBLISH, {"id": random.choice(tracks)["id"]}))
        elif choice < 0.8:
            title = f"Edit {random.randrange(1000)}"
            jobs.append(client.gql(UPDATE, {"id": random.choice(tracks)["id"], "t": title}))
        else:
            jobs.append(client.gql(DELETE, {"id": random.choice(tracks)["id"]}))
    await asyncio.gather(*jobs, return_exceptions=True)


async def rows_of(deployment: Deployment) -> tuple[list[TrackRow], dict[str, int]]:
    engine = create_engine(deployment.settings.resolved_database_url)
    try:
        async with session_factory(engine)() as db:
            rows = list(
                (
                    await db.execute(
                        select(TrackRow).where(TrackRow.artist_did == deployment.account.did)
                    )
                ).scalars()
            )
            refs = dict(
                (await db.execute(select(AudioObjectRow.file_id, AudioObjectRow.refs))).all()
            )
    finally:
        await engine.dispose()
    return rows, {str(k): int(v) for k, v in refs.items()}


async def pending_work(deployment: Deployment) -> list[str]:
    """What the worker and the collector still have to do for this account."""
    rows, refs = await rows_of(deployment)
    busy = [
        f"{r.rkey} {r.publish_state} error={r.publish_error!r} delete={r.delete_requested_at}"
        for r in rows
        if r.publish_state == "PUBLISHING"
        or (r.publish_state == "FAILED" and r.next_publish_at is not None)
        or r.delete_requested_at is not None
    ]
    return busy + [f"audio {f} refs={n}" for f, n in refs.items() if n <= 0]


async def settled(deployment: Deployment) -> bool:
    return not await pending_work(deployment)


async def stored_objects(deployment: Deployment) -> set[str]:
    if deployment.radosgw is None:
        audio = deployment.settings.data_dir / "audio"
        return (
            {p.name for p in audio.iterdir() if not p.name.startswith(".")}
            if audio.exists()
            else set()
        )
    async with deployment.radosgw.client() as s3:
        listed = await s3.list_objects_v2(Bucket=deployment.bucket)
    return {item["Key"] for item in listed.get("Contents", [])}


async def records_on_pds(deployment: Deployment) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=deployment.network.pds_url, timeout=10) as http:
        answer = await http.get(
            "/xrpc/com.atproto.repo.listRecords",
            params={"repo": deployment.account.did, "collection": "app.relay.track", "limit": 100},
        )
    answer.raise_for_status()
    return {r["uri"].rsplit("/", 1)[1]: r["cid"] for r in answer.json()["records"]}


async def check_consistency(deployment: Deployment) -> None:
    rows, refs = await rows_of(deployment)
    objects = await stored_objects(deployment)
    used = {r.file_id for r in rows if r.file_id is not None}
    assert used <= objects, f"rows reference missing audio: {used - objects}"
    assert objects <= used, f"unreferenced audio remains: {objects - used}"
    counts = {f: sum(1 for r in rows if r.file_id == f) for f in used}
    assert {f: refs.get(f) for f in used} == counts, "reference counts disagree with the rows"
    records = await records_on_pds(deployment)
    published = {r.rkey: r.cid for r in rows if r.publish_state == "PUBLISHED"}
    assert published == {rkey: records.get(rkey) for rkey in published}, (
        "a PUBLISHED row's record is missing or differs"
    )
    assert set(records) == set(published), "a record without a published track remains on the PDS"


async def test_sigkill_at_random_points_leaves_storage_pds_and_index_consistent(
    deployment: Deployment, tmp_path: Path
) -> None:
    rng_seed = random.randrange(10**9)
    random.seed(rng_seed)
    audio = [
        make_audio(tmp_path / f"take{i}.{fmt}", fmt, seconds=1 + i, freq=200 + 50 * i)
        for i, fmt in enumerate(("mp3", "ogg", "wav"))
    ]
    log = tmp_path / "relay.log"
    token: str | None = None
    for trial in range(TRIALS):
        async with relay_serving(deployment, log) as proc, RelayClient(deployment.url) as client:
            if token is None:
                token = await client.login(deployment.account.handle, deployment.account.password)
            client.token = token
            work = asyncio.create_task(random_work(client, deployment, audio))
            await asyncio.sleep(random.uniform(0.05, 1.0))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await asyncio.gather(work, return_exceptions=True)
        # A new process picks up where the dead one stopped.
        async with relay_serving(deployment, log):
            try:
                await eventually(lambda: settled(deployment), timeout=40, interval=0.3)
            except AssertionError:
                left = await pending_work(deployment)
                raise AssertionError(
                    f"kill {trial} (seed {rng_seed}): still pending {left}"
                ) from None
            await check_consistency(deployment)
