"""`relay dev` — the README's run command — brings up relay, a sandbox PDS and a demo account."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.demo import DEMO_ALBUM, DEMO_PLAYLIST, DEMO_TRACKS
from relay.sandbox import free_port
from tests.harness.client import UPLOAD


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)


DEMO = (
    '{ tracks(where: {artist: "Nightjar", published: true}) '
    "{ edges { node { title playable duration artistHandle audioUrl imageUrl } } } }"
)


def _until_demo_catalogue(http: httpx.Client, log: Path) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 90
    while True:
        edges = http.post("/graphql", json={"query": DEMO}).json()["data"]["tracks"]["edges"]
        if len(edges) >= len(DEMO_TRACKS):
            return [e["node"] for e in edges]
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


LISTS = (
    "{ lists(first: 10) { edges { node { name listType owner { handle } "
    "items { status track { title likeCount } } } } } }"
)


def _until_demo_lists(http: httpx.Client, log: Path) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 90
    while True:
        edges = http.post("/graphql", json={"query": LISTS}).json()["data"]["lists"]["edges"]
        if len(edges) >= 2:
            return {e["node"]["name"]: e["node"] for e in edges}
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


PROFILE = '{ artist(handle: "nightjar.test") { displayName description avatarUrl } }'


def _until_demo_profile(http: httpx.Client, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        found = http.post("/graphql", json={"query": PROFILE}).json()["data"]["artist"]
        if found and found["avatarUrl"]:
            return dict(found)
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


def test_relay_dev_starts_a_full_local_stack(tmp_path: Path, audio_files: dict[str, Path]) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "relay.cli", "dev", "--data-dir", str(tmp_path / "dev")]
    plc_port, pds_port = free_port(), free_port()
    command += ["--plc-port", str(plc_port), "--pds-port", str(pds_port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env={**os.environ, "RELAY_PORT": str(port), "COLUMNS": "200"},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, log)
        printed = log.read_text()
        assert "musician.test" in printed
        assert "demo-password" in printed

        with httpx.Client(base_url=url, timeout=30) as http:
            # The first screen is music: the demo artist's tracks, published and playable.
            demo = _until_demo_catalogue(http, log)
            assert sorted(t["title"] for t in demo) == sorted(t.title for t in DEMO_TRACKS)
            assert all(t["playable"] and t["duration"] >= 4 for t in demo)
            assert {t["artistHandle"] for t in demo} == {"nightjar.test"}
            served = http.get(demo[0]["audioUrl"])
            assert served.status_code == 200 and served.content[:4] == b"RIFF"
            cover = http.get(demo[0]["imageUrl"])  # each has generated artwork
            assert cover.status_code == 200 and cover.headers["content-type"] == "image/jpeg"
            # An album by the artist, a playlist by a listener, and likes from both listeners.
            lists = _until_demo_lists(http, log)
            album, playlist = lists[DEMO_ALBUM], lists[DEMO_PLAYLIST]
            assert (album["listType"], album["owner"]["handle"]) == ("album", "nightjar.test")
            in_album = [t.title for t in DEMO_TRACKS if t.album == DEMO_ALBUM]
            assert [i["track"]["title"] for i in album["items"]] == in_album
            assert (playlist["listType"], playlist["owner"]["handle"]) == ("playlist", "wren.test")
            assert [i["track"]["title"] for i in playlist["items"]] == [
                t.title for t in reversed(DEMO_TRACKS)
            ]
            likes = {i["track"]["title"]: i["track"]["likeCount"] for i in playlist["items"]}
            assert likes[DEMO_TRACKS[0].title] == 2  # liked by both
            assert sum(likes.values()) >= 4
            # The artist's profile: a name, a description and an avatar relay serves.
            profile = _until_demo_profile(http, log)
            assert profile["displayName"] == "Nightjar" and profile["description"]
            avatar = http.get(profile["avatarUrl"])
            assert avatar.status_code == 200 and avatar.headers["content-type"] == "image/png"
            login = http.post(
                "/graphql",
                json={
                    "query": 'mutation { login(identifier: "musician.test", '
                    'password: "demo-password") { token } }'
                },
            ).json()
            token = login["data"]["login"]["token"]
            operations = {
                "query": UPLOAD,
                "variables": {"input": {"file": None, "title": "Hello", "artist": "Newcomer"}},
            }
            with audio_files["mp3"].open("rb") as handle:
                uploaded = http.post(
                    "/graphql",
                    data={
                        "operations": json.dumps(operations),
                        "map": '{"0": ["variables.input.file"]}',
                    },
                    files={"0": ("hello.mp3", handle, "audio/mpeg")},
                    headers={"Authorization": f"Bearer {token}", "Apollo-Require-Preflight": "1"},
                ).json()
            assert uploaded["data"]["uploadTrack"]["publishState"] == "PUBLISHED"
            listed = http.post("/graphql", json={"query": "{ tracks { totalCount } }"}).json()
            assert listed["data"]["tracks"]["totalCount"] == len(DEMO_TRACKS) + 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # The sandbox PDS and PLC stop with it: nothing listens on their ports any more.
    for sandbox_port in (plc_port, pds_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", sandbox_port)) != 0, sandbox_port


def test_relay_dev_stopped_with_sigterm_stops_its_sandbox(tmp_path: Path) -> None:
    # uvicorn re-raises SIGTERM once it has shut down: its default action ended relay dev at
    # once, and the sandbox PLC and PDS kept running, holding their ports.
    port, plc_port, pds_port = free_port(), free_port(), free_port()
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "relay.cli", "dev", "--data-dir", str(tmp_path / "dev")]
    command += ["--plc-port", str(plc_port), "--pds-port", str(pds_port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, "RELAY_PORT": str(port)}, cwd=tmp_path, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for sandbox_port in (plc_port, pds_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", sandbox_port)) != 0, sandbox_port


def test_a_busy_sandbox_port_is_refused_not_reused(tmp_path: Path) -> None:
    from relay.errors import SandboxError
    from relay.sandbox import LocalNetwork

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        network = LocalNetwork(tmp_path / "net", plc_port=busy, pds_port=free_port())
        with pytest.raises(SandboxError, match=f"port {busy} .* --plc-port"):
            network.start()
