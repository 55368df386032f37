"""Upload benchmark: peak RSS growth and MB/s of a large upload through relay, beside a raw aioboto3
upload of the same file to the same radosgw in the same run.

    .venv/bin/python -m bench.upload [--size-mb 200]

relay runs as its own process (``relay serve``, s3 backend) so its memory is measured alone; the
sandbox PDS provides the login. The figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from relay.sandbox import LocalNetwork, free_port
from tests.harness.audio import make_large_wav
from tests.harness.client import UPLOAD
from tests.harness.radosgw import RadosGateway

MB = 1024 * 1024


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.baseline = self._proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def raw_upload(gw: RadosGateway, bucket: str, path: Path) -> float:
    async with gw.client() as s3:
        await s3.create_bucket(Bucket=bucket)
        # Warm up: radosgw creates its data pools on the first write to a new cluster.
        await s3.put_object(Bucket=bucket, Key="warm-up", Body=b"x" * MB)
        started = time.perf_counter()
        await s3.upload_file(str(path), bucket, "raw-" + secrets.token_hex(4))
        return time.perf_counter() - started


async def relay_upload(url: str, token: str, path: Path) -> tuple[float, dict[str, object]]:
    operations = {
        "query": UPLOAD,
        "variables": {"input": {"file": None, "title": "Bench", "artist": "Bench"}},
    }
    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        with path.open("rb") as handle:
            response = await http.post(
                f"{url}/graphql",
                data={
                    "operations": json.dumps(operations),
                    "map": '{"0": ["variables.input.file"]}',
                },
                files={"0": (path.name, handle, "audio/wav")},
                headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "true"},
            )
        elapsed = time.perf_counter() - started
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"upload failed: {body['errors']}")
    return elapsed, body["data"]["uploadTrack"]


def start_relay(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "relay.cli", "serve", "--migrate"],
        env={**os.environ, **env, "RELAY_PORT": str(port), "RELAY_LOG_LEVEL": "WARNING"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("relay did not start")


async def main(size_mb: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        root = Path(tmp)
        audio = make_large_wav(root / "big.wav", size_mb * MB)
        size = audio.stat().st_size
        print(f"file: {size / MB:.1f} MiB WAV")
        gw = RadosGateway.start(root / "rgw")
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        relay: subprocess.Popen[bytes] | None = None
        try:
            account = network.create_account("bench.test")
            bucket = "bench-" + secrets.token_hex(4)
            raw_seconds = await raw_upload(gw, bucket, audio)
            port = free_port()
            relay = start_relay(
                {
                    "RELAY_DATA_DIR": str(root / "relay"),
                    "RELAY_PLC_URL": network.plc_url,
                    "RELAY_ALLOW_PRIVATE_ADDRESSES": "true",
                    "RELAY_HANDLE_RESOLVER_URL": network.pds_url,
                    "RELAY_STORAGE_BACKEND": "s3",
                    "RELAY_S3_ENDPOINT_URL": gw.endpoint_url,
                    "RELAY_S3_BUCKET": bucket,
                    "RELAY_S3_ACCESS_KEY_ID": gw.access_key_id,
                    "RELAY_S3_SECRET_ACCESS_KEY": gw.secret_access_key,
                    "RELAY_PUBLIC_AUDIO_BASE_URL": f"{gw.endpoint_url}/{bucket}",
                    "RELAY_MAX_UPLOAD_BYTES": str(size + MB),
                },
                port,
            )
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient() as http:
                login = await http.post(
                    f"{url}/graphql",
                    json={
                        "query": "mutation($i: String!, $p: String!) "
                        "{ login(identifier: $i, password: $p) { token } }",
                        "variables": {"i": account.handle, "p": account.password},
                    },
                )
            token = login.json()["data"]["login"]["token"]
            with PeakRss(relay.pid) as rss:
                relay_seconds, track = await relay_upload(url, token, audio)
            growth = (rss.peak - rss.baseline) / MB
            print(
                f"relay upload:  {relay_seconds:6.2f} s  {size / MB / relay_seconds:7.1f} MiB/s  "
                f"(receive, hash, probe, multipart to S3, publish: {track['publishState']})"
            )
            print(
                f"raw aioboto3:  {raw_seconds:6.2f} s  {size / MB / raw_seconds:7.1f} MiB/s  "
                "(upload_file of the same file to the same radosgw)"
            )
            print(f"relay / raw time ratio: {relay_seconds / raw_seconds:.2f}x")
            print(
                f"relay RSS: baseline {rss.baseline / MB:.1f} MiB, peak {rss.peak / MB:.1f} MiB, "
                f"growth {growth:.1f} MiB for a {size / MB:.0f} MiB upload (target <= ~50 MiB)"
            )
        finally:
            if relay is not None:
                relay.terminate()
                relay.wait(timeout=30)
            network.stop()
            gw.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=200)
    asyncio.run(main(parser.parse_args().size_mb))
