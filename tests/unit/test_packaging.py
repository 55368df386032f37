"""What the installed package carries and what relay checks at start: lexicons (one source of
truth, lexicons/ at the top level), and the built frontends or a line saying they are absent."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relay.app import create_app
from relay.atproto.lexicon import default_lexicon_dir
from relay.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_the_packaged_lexicons_are_the_repositorys() -> None:
    packaged = _files(default_lexicon_dir())
    assert packaged, "no lexicons inside the package"
    assert packaged == _files(ROOT / "lexicons"), (
        "src/relay/lexicons differs from lexicons/: run `cp -r lexicons/. src/relay/lexicons/`"
    )


def _serve(tmp_path: Path, lexicons: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        "RELAY_LEXICON_DIR": str(lexicons),
        "RELAY_AUTO_MIGRATE": "true",
        "RELAY_PORT": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "relay.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_relay_refuses_to_start_without_the_track_lexicon(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _serve(tmp_path, tmp_path / "empty")
    assert result.returncode == 2
    assert "RELAY_LEXICON_DIR" in result.stderr
    assert "no record lexicon for app.relay.track" in result.stderr


def test_relay_refuses_to_start_with_an_invalid_lexicon(tmp_path: Path) -> None:
    broken = tmp_path / "lexicons" / "app" / "relay"
    broken.mkdir(parents=True)
    doc = json.loads((default_lexicon_dir() / "app/relay/track.json").read_text())
    doc["defs"]["main"]["record"]["properties"]["title"]["type"] = "blob-of-wishes"
    (broken / "track.json").write_text(json.dumps(doc))
    result = _serve(tmp_path, tmp_path / "lexicons")
    assert result.returncode == 2
    assert "RELAY_LEXICON_DIR" in result.stderr
    assert "blob-of-wishes" in result.stderr


def test_absent_frontends_are_named_in_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(_env_file=None, web_dir=tmp_path / "no-app", graphiql_dir=tmp_path / "no")
    with caplog.at_level(logging.WARNING, logger="relay.app"):
        create_app(settings)
    lines = [r.getMessage() for r in caplog.records if r.name == "relay.app"]
    assert len(lines) == 2
    assert all("is not built" in line and "scripts/setup" in line for line in lines)
