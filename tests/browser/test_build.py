"""The web app's operations are checked against schema.graphql: breaking changes fail its build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "frontend" / "app"
SCHEMA = APP.parents[1] / "schema.graphql"


def codegen(schema: Path, out: Path) -> subprocess.CompletedProcess[str]:
    binary = APP / "node_modules" / ".bin" / "graphql-codegen"
    if not binary.exists():
        pytest.fail("frontend/app is not installed: run scripts/setup")
    env = {**os.environ, "RELAY_SCHEMA": str(schema), "RELAY_CODEGEN_OUT": str(out)}
    return subprocess.run(
        [str(binary), "--config", "codegen.ts"],
        cwd=APP,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_operations_match_the_schema(tmp_path: Path) -> None:
    result = codegen(SCHEMA, tmp_path / "generated.ts")
    assert result.returncode == 0, result.stdout + result.stderr
    generated = (tmp_path / "generated.ts").read_text()
    assert "export const UploadTrackDocument" in generated
    assert "playable: boolean" in generated


def test_a_breaking_schema_change_fails_the_build(tmp_path: Path) -> None:
    schema = SCHEMA.read_text()
    field = '  """\n  Whether audioUrl is on a host'
    assert field in schema
    start = schema.index(field)
    end = schema.index("playable: Boolean!\n", start) + len("playable: Boolean!\n")
    broken = tmp_path / "schema.graphql"
    broken.write_text(schema[:start] + schema[end:])
    result = codegen(broken, tmp_path / "generated.ts")
    assert result.returncode != 0
    assert 'Cannot query field "playable" on type "Track"' in result.stdout + result.stderr
    assert not (tmp_path / "generated.ts").exists()
