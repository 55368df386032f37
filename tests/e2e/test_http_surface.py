"""The non-GraphQL surface: health, metrics, audio with Range, error masking."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy import text

from relay.settings import Settings
from tests.harness.client import RelayClient
from tests.harness.server import RunningRelay, run_relay


async def test_healthz(relay: RunningRelay) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{relay.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_count_uploads_publishes_and_pds_latency(
    client: RelayClient,
    alice: str,
    relay: RunningRelay,
    audio_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    await client.upload(audio_files["mp3"], token=alice)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"junk" * 100)
    await client.upload(junk, token=alice)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{relay.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'relay_uploads_total{outcome="stored"} 1.0' in text
    assert 'relay_uploads_total{outcome="rejected"} 1.0' in text
    assert 'relay_publishes_total{outcome="published"} 1.0' in text
    assert 'relay_pds_write_seconds_count{operation="publish"} 1.0' in text
    assert "relay_pds_write_seconds_bucket" in text


async def test_audio_supports_range_requests_and_caching(
    client: RelayClient, alice: str, audio_files: dict[str, Path]
) -> None:
    track = (await client.upload(audio_files["flac"], token=alice)).data["uploadTrack"]
    body = audio_files["flac"].read_bytes()
    async with httpx.AsyncClient() as http:
        full = await http.get(track["audioUrl"])
        assert full.status_code == 200
        assert full.headers["content-type"] == "audio/flac"
        assert full.headers["accept-ranges"] == "bytes"
        assert "immutable" in full.headers["cache-control"]
        etag = full.headers["etag"]

        part = await http.get(track["audioUrl"], headers={"Range": "bytes=100-199"})
        assert part.status_code == 206
        assert part.content == body[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"

        tail = await http.get(track["audioUrl"], headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == body[-10:]

        cached = await http.get(track["audioUrl"], headers={"If-None-Match": etag})
        assert cached.status_code == 304

        missing = await http.get(track["audioUrl"].rsplit("/", 1)[0] + "/" + "0" * 64 + ".mp3")
        assert missing.status_code == 404
        traversal = await http.get(track["audioUrl"].rsplit("/", 1)[0] + "/..%2Frelay.db")
        assert traversal.status_code == 404


async def test_graphql_syntax_errors_are_bad_user_input(client: RelayClient) -> None:
    result = await client.gql("{ tracks { nope } }")
    assert result.codes == ["BAD_USER_INPUT"]


async def test_web_app_routes_fall_back_but_api_paths_stay_404(relay: RunningRelay) -> None:
    async with httpx.AsyncClient(base_url=relay.url) as http:
        for page in ("/", "/portal", "/artist/did:web:music.example.com"):
            response = await http.get(page)
            assert response.status_code == 200, page
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["cache-control"] == "no-cache"
        for missing in ("/audio/nothing-here", "/oauth/nope", "/_app/immutable/gone.js"):
            assert (await http.get(missing)).status_code == 404, missing
        graphiql = await http.get("/graphiql")
        assert graphiql.status_code == 308 and graphiql.headers["location"] == "/graphiql/"
        html = (await http.get("/")).text
        asset = re.search(r'"(/_app/immutable/[^"]+\.js)"', html)
        assert asset is not None
        script = await http.get(asset.group(1))
        assert script.status_code == 200
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_readyz_checks_database_lexicons_and_storage(relay_settings: Settings) -> None:
    async with run_relay(relay_settings, in_process=True) as relay, relay.client() as client:
        ready = await client.http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "lexicons": "ok", "storage": "ok"},
        }
        # The audio directory becomes unusable (a file where the directory should be).
        audio = relay.settings.data_dir / "audio"
        if audio.exists():
            audio.rmdir()
        audio.write_text("not a directory")
        async with relay.database() as db:
            await db.execute(text("DELETE FROM alembic_version"))
        broken = await client.http.get("/readyz")
        assert broken.status_code == 503
        assert broken.json()["checks"] == {
            "database": "not migrated: run `relay db upgrade`",
            "lexicons": "ok",
            "storage": "unavailable",
        }
        assert (await client.http.get("/healthz")).status_code == 200  # still alive
