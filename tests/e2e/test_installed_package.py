"""relay as an operator gets it: a wheel installed into a fresh virtualenv, run from an empty
directory against the real PDS — upload, publish, firehose ingest and the web app all work."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from relay.sandbox import Account, LocalNetwork, free_port
from tests.harness.client import RelayClient
from tests.harness.pds import create_record, get_record, track_record
from tests.harness.processes import until_serving
from tests.harness.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with relay installed from a wheel built from this checkout."""
    wheels = tmp_path_factory.mktemp("wheels")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("relay-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "relay/lexicons/app/relay/track.json" in names
    assert "relay/web/app/200.html" in names, "build the web app (scripts/setup) first"
    assert "relay/web/graphiql/index.html" in names
    env = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", env)
    _run(env / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)
    return env


def test_the_installed_package_runs_nothing_from_the_checkout(venv: Path, tmp_path: Path) -> None:
    probe = "import relay, relay.app; print(list(relay.__path__)[0])"
    result = subprocess.run(
        [venv / "bin" / "python", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.stdout.strip().startswith(str(venv))


@pytest.fixture
async def served(
    venv: Path, tmp_path: Path, network: LocalNetwork, accounts: dict[str, Account]
) -> AsyncIterator[str]:
    """``relay db upgrade`` then ``relay serve`` from an empty directory; yields relay's URL."""
    workdir = tmp_path / "empty"
    workdir.mkdir()
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RELAY_PORT": str(port),
        "RELAY_PLC_URL": network.plc_url,
        "RELAY_HANDLE_RESOLVER_URL": network.pds_url,
        "RELAY_FIREHOSE_URL": f"ws://localhost:{network.pds_port}",
        "RELAY_ADMIN_DIDS": accounts["alice"].did,
        # The sandbox PLC and PDS listen on 127.0.0.1.
        "RELAY_ALLOW_PRIVATE_ADDRESSES": "true",
        "PYTHONFAULTHANDLER": "1",  # a hang at exit shows every thread's stack (SIGABRT)
    }
    relay = venv / "bin" / "relay"
    upgrade = await asyncio.create_subprocess_exec(
        relay, "db", "upgrade", cwd=workdir, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await upgrade.communicate()
    assert upgrade.returncode == 0, errors.decode()
    log = (tmp_path / "relay.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        relay, "serve", cwd=workdir, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await until_serving(url, proc)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.send_signal(signal.SIGABRT)
            await asyncio.wait_for(proc.wait(), 10)
            tail = (tmp_path / "relay.log").read_text(errors="replace")[-12000:]
            raise AssertionError(f"relay serve ignored SIGINT for 30 s:\n{tail}") from None
        finally:
            log.close()
    assert not (workdir / "lexicons").exists()
    assert (workdir / "data" / "relay.db").exists()  # the data dir defaults to ./data


async def test_upload_publish_ingest_and_web_app_from_an_empty_directory(
    served: str,
    network: LocalNetwork,
    accounts: dict[str, Account],
    audio_files: dict[str, Path],
) -> None:
    async with httpx.AsyncClient(base_url=served) as http:
        page = await http.get("/portal")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "/_app/" in page.text  # the web app's own page, from the package
        assert (await http.get("/graphiql/")).status_code == 200
    async with RelayClient(served) as client:
        client.token = await client.login(accounts["alice"].handle, accounts["alice"].password)
        track = (await client.upload(audio_files["mp3"], title="From the wheel")).data[
            "uploadTrack"
        ]
        assert track["publishState"] == "PUBLISHED", track["publishError"]
        record = await get_record(network, track["uri"])
        assert record is not None and record["value"]["title"] == "From the wheel"

        musician = network.create_account("wheel-listener.test")
        made = await create_record(network, musician, track_record("Seen on the firehose"))

        async def ingested() -> bool:
            query = "query($u: String!) { track(uri: $u) { title } }"
            return (await client.gql(query, {"u": made["uri"]})).data["track"] is not None

        await eventually(ingested, timeout=30, what="the firehose record in the index")
        status = (await client.gql("{ syncStatus { firehose { connected } } }")).data
        assert status["syncStatus"]["firehose"] == [{"connected": True}]
