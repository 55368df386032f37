"""relay reads its newest migration from the files without importing alembic; alembic must
agree, and a serving process must not import it when nothing is pending."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from relay.db.engine import alembic_config, code_heads


def test_the_heads_read_from_the_files_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert code_heads() == frozenset(script.get_heads())
    assert len(code_heads()) == 1


def test_a_migrated_database_is_checked_without_alembic(tmp_path: object) -> None:
    program = f"""
import asyncio, sys
from relay.db.engine import create_engine, ensure_migrated, pending_migrations

async def main():
    engine = create_engine("sqlite+aiosqlite:///{tmp_path}/r.db")
    await ensure_migrated(engine, migrate=True)
    assert "alembic" in sys.modules
    await engine.dispose()

async def check():
    engine = create_engine("sqlite+aiosqlite:///{tmp_path}/r.db")
    assert not await pending_migrations(engine)
    await ensure_migrated(engine, migrate=False)
    await engine.dispose()
    assert "alembic" not in sys.modules, "a migrated database loaded alembic"

asyncio.run(main() if sys.argv[1] == "migrate" else check())
"""
    for step in ("migrate", "check"):
        subprocess.run([sys.executable, "-c", program, step], check=True, timeout=60)
