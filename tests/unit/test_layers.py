"""Layers point one way (graphql → services → db/storage/atproto): checked on the imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import relay

PACKAGE = Path(next(iter(relay.__path__)))


def imported_modules(folder: str) -> dict[str, set[str]]:
    """Every ``relay…``/third-party module imported by each file under ``relay/<folder>``."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("graphql", ("relay.db", "sqlalchemy")),
        ("services", ("strawberry", "relay.graphql", "relay.http", "starlette")),
        ("db", ("relay.services", "relay.graphql", "relay.http", "strawberry")),
        ("storage", ("relay.db", "sqlalchemy", "relay.services", "relay.graphql")),
        ("atproto", ("relay.db", "relay.services", "relay.graphql", "relay.http")),
        # The bottom: the outbound client knows nothing of the rest of relay.
        ("net", ("relay.atproto", "relay.db", "relay.services", "relay.graphql", "relay.http")),
    ],
)
def test_a_layer_imports_nothing_above_it(folder: str, forbidden: tuple[str, ...]) -> None:
    offenders = {
        file: sorted(name for name in names if name.startswith(forbidden))
        for file, names in imported_modules(folder).items()
    }
    assert {file: names for file, names in offenders.items() if names} == {}


def test_ingest_and_backfill_run_without_graphql() -> None:
    """``relay ingest`` and ``relay backfill`` assemble relay without loading the API layer."""
    probe = (
        "import sys, relay.assembly, relay.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith(('strawberry', 'relay.graphql', "
        "'relay.http'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
