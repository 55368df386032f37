"""relay commands as separate OS processes (``relay ingest``, ``relay serve``), configured like
an in-test relay, and stopped as an operator would (SIGINT) when the test is done."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from relay.settings import Settings
from tests.harness.waiting import eventually


def relay_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a relay process needs to share ``settings``' database and network."""
    resolver = settings.handle_resolver_url
    return {
        **os.environ,
        "RELAY_DATA_DIR": str(settings.data_dir),
        "RELAY_DATABASE_URL": settings.resolved_database_url,
        "RELAY_PLC_URL": settings.plc_url,
        **({"RELAY_HANDLE_RESOLVER_URL": resolver} if resolver else {}),
        "RELAY_AUTO_MIGRATE": "true",
        "RELAY_ALLOW_PRIVATE_ADDRESSES": str(settings.allow_private_addresses).lower(),
        "COLUMNS": "200",
        **extra,
    }


_runs = itertools.count(1)


@asynccontextmanager
async def relay_process(
    settings: Settings, *args: str, **extra: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``relay <args>`` running beside the test; SIGINT and a wait when the block ends. Its
    output goes to a log file in the data directory; a process that does not exit within 30 s of
    SIGINT is made to dump every thread's stack (faulthandler, SIGABRT) and the test fails with
    the end of that log."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / f"process-{next(_runs)}-{args[0] if args else 'relay'}.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay.cli", *args,
            env=relay_env(settings, PYTHONFAULTHANDLER="1", **extra),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield proc
    except BaseException as exc:
        if proc.returncode not in (None, 0):  # it died under the test: say how
            tail = log_path.read_text(errors="replace")[-12000:]
            exc.add_note(f"relay {' '.join(args)} exited with {proc.returncode}:\n{tail}")
        raise
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack
            await asyncio.wait_for(proc.wait(), 10)
            tail = log_path.read_text(errors="replace")[-12000:]
            what = f"relay {' '.join(args)} ignored SIGINT for 30 s"
            raise AssertionError(f"{what}:\n{tail}") from None


async def until_serving(
    url: str, proc: asyncio.subprocess.Process, *, path: str = "/healthz", timeout: float = 60
) -> None:
    """Wait until the relay process ``proc`` answers 200 at ``url + path`` (fail if it exits)."""
    async with httpx.AsyncClient(base_url=url) as http:

        async def answering() -> bool:
            assert proc.returncode is None, f"relay exited with {proc.returncode}"
            try:
                return (await http.get(path)).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(answering, timeout=timeout, interval=0.2, what=f"{url}{path} answering")
