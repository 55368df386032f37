"""schema.graphql is current; configuration errors name the variable; the CLI gates migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.errors import ConfigurationError
from relay.graphql.schema import export_sdl
from relay.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_is_exported_from_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == export_sdl(), (
        "schema.graphql is stale: run `relay export-schema -o schema.graphql`"
    )


def test_schema_has_the_contracted_names() -> None:
    sdl = export_sdl()
    for fragment in [
        "interface Node",
        "scalar Upload",
        "type Track implements Node",
        "enum PublishState",
        "tracks(first: Int = null, after: String = null, last: Int = null, before: String = null, "
        "where: TrackFilter = null, orderBy: TrackOrder = null): TrackConnection!",
        "track(uri: String!): Track",
        "node(id: ID!): Node",
        "viewer: Viewer",
        "uploadTrack(input: UploadTrackInput!): Track!",
        "publishTrack(id: ID!): Track!",
        "updateTrack(id: ID!, input: UpdateTrackInput!): Track!",
        "deleteTrack(id: ID!): DeleteTrackPayload!",
        "login(identifier: String!, password: String!): LoginPayload!",
        "logout: Boolean!",
        "publish: Boolean! = true",
        "file: Upload!",
    ]:
        assert fragment in sdl, fragment
    track = sdl[sdl.index("type Track implements Node") :].split("}")[0]
    fields = (
        "id uri cid rkey title artist album audioUrl fileType duration createdAt indexedAt "
        "artistDid artistHandle publishState publishError"
    )
    for field in fields.split():
        assert f"  {field}:" in track, field


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RELAY_PORT": "nope"}, "RELAY_PORT"),
        ({"RELAY_STORAGE_BACKEND": "ftp"}, "RELAY_STORAGE_BACKEND"),
        ({"RELAY_DATABASE_URL": "mysql://x"}, "RELAY_DATABASE_URL"),
        ({"RELAY_PLC_URL": "ftp://plc"}, "RELAY_PLC_URL"),
        ({"RELAY_MAX_UPLOAD_BYTES": "-1"}, "RELAY_MAX_UPLOAD_BYTES"),
    ],
)
def test_bad_configuration_names_the_variable(
    env: dict[str, str], variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.variable == variable


def test_lists_come_comma_separated_or_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAY_ADMIN_DIDS", "did:plc:aaa, did:plc:bbb")
    monkeypatch.setenv("RELAY_PLAYABLE_AUDIO_HOSTS", '["cdn.example", "pub.r2.dev"]')
    settings = load_settings()
    assert settings.admin_dids == ["did:plc:aaa", "did:plc:bbb"]
    assert settings.playable_audio_hosts == ["cdn.example", "pub.r2.dev"]
    monkeypatch.setenv("RELAY_FIREHOSE_URL", "ftp://not-a-websocket")  # https:// is a host form
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert info.value.variable == "RELAY_FIREHOSE_URL"


def test_s3_needs_its_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RELAY_STORAGE_BACKEND", "s3")
    with pytest.raises(ConfigurationError, match="RELAY_S3_BUCKET is required"):
        load_settings()


def _relay(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relay.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_serve_refuses_an_unmigrated_database_and_db_upgrade_fixes_it(tmp_path: Path) -> None:
    env = {"RELAY_DATA_DIR": str(tmp_path / "data"), "RELAY_PORT": "1"}
    refused = _relay("serve", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "relay db upgrade" in refused.stderr
    upgraded = _relay("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "relay.db").exists()


def test_bad_configuration_exits_with_a_message(tmp_path: Path) -> None:
    result = _relay("serve", cwd=tmp_path, env={"RELAY_PORT": "99999"})
    assert result.returncode == 2
    assert "RELAY_PORT" in result.stderr


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    result = _relay("export-schema", "-o", str(out), cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    assert out.read_text() == export_sdl()


@pytest.mark.parametrize(
    ("written", "followed"),
    [
        ("wss://bsky.network", "wss://bsky.network/xrpc"),
        ("wss://bsky.network/", "wss://bsky.network/xrpc"),
        ("wss://bsky.network/xrpc", "wss://bsky.network/xrpc"),
        ("wss://relay.example/xrpc/com.atproto.sync.subscribeRepos", "wss://relay.example/xrpc"),
        ("https://pds.example", "wss://pds.example/xrpc"),
        ("http://localhost:2583", "ws://localhost:2583/xrpc"),
        ("ws://127.0.0.1:2583/xrpc/", "ws://127.0.0.1:2583/xrpc"),
    ],
)
def test_firehose_urls_are_accepted_in_the_forms_operators_write(
    written: str, followed: str
) -> None:
    assert load_settings(_env_file=None, firehose_url=written).firehose_url == followed


@pytest.mark.parametrize(
    "written", ["bsky.network", "ftp://host", "wss://", "wss://host/other/path", "wss://h/?x=1"]
)
def test_a_firehose_url_relay_cannot_follow_stops_it_at_start(written: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_env_file=None, firehose_url=written)
    assert caught.value.variable == "RELAY_FIREHOSE_URL"


def test_a_demo_account_is_refused_outside_development() -> None:
    with pytest.raises(ConfigurationError, match="relay dev"):
        load_settings(
            _env_file=None, public_url="https://relay.example", demo_handle="demo.test",
            secret_key="s" * 40,
        )  # fmt: skip


def test_a_plain_websocket_firehose_is_refused_in_production() -> None:
    production = {"public_url": "https://relay.example", "secret_key": "s" * 40}
    with pytest.raises(ConfigurationError, match="wss://"):
        load_settings(_env_file=None, firehose_url="ws://bsky.network", **production)
    assert load_settings(_env_file=None, firehose_url="wss://bsky.network", **production)
    # Development follows the sandbox PDS over ws://localhost.
    assert load_settings(_env_file=None, firehose_url="ws://localhost:2583")
