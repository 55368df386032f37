"""Processes started together on a new database (an API process and `relay ingest`, or several
replicas) take turns migrating it: each waits for the one migrating, then finds nothing to do."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from relay.settings import Settings
from tests.harness.processes import relay_env


async def test_processes_migrating_one_new_database_at_once_all_succeed(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=database_url)
    settings.data_dir.mkdir(parents=True)
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.cli",
            "db",
            "upgrade",
            env=relay_env(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(run.communicate() for run in runs)), 120)
    for run, (output, _) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output.decode(errors="replace")[-4000:]
