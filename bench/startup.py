"""A lean process: how soon ``relay serve`` answers, and how much memory it holds.

    .venv/bin/python -m bench.startup [--runs 5] [--reads 300]

Starts ``relay serve`` on its embedded defaults (SQLite, audio on disk) ``--runs`` times on an
already migrated data directory, and beside it — as the same-run reference — a bare Starlette app
under uvicorn (the floor any Python ASGI service pays). For each: seconds from exec to
``/healthz`` answering 200, RSS when idle, and (relay) RSS after ``--reads`` GraphQL reads
(pages and searches). Goals (issue 13): ready within 2 s, idle RSS <= 120 MB. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from relay.sandbox import free_port

BARE = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def healthz(request):
    return JSONResponse({"status": "ok"})

uvicorn.run(Starlette(routes=[Route("/healthz", healthz)]), host="127.0.0.1", port=int(PORT))
"""
READS = [
    "{ tracks(first: 20) { edges { node { uri title artist duration } } } }",
    '{ tracks(first: 20, where: {search: "song"}) { edges { node { uri title } } } }',
]


async def ready(url: str, proc: asyncio.subprocess.Process, within: float = 30) -> float:
    started = time.perf_counter()
    async with httpx.AsyncClient() as http:
        while time.perf_counter() - started < within:
            if proc.returncode is not None:
                raise SystemExit(f"the process exited with {proc.returncode}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return time.perf_counter()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise SystemExit(f"{url} did not answer within {within} s")


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


async def run_once(
    argv: list[str], env: dict[str, str], port: int, reads: int
) -> tuple[float, float, float | None]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        answered = await ready(url, proc)
        await asyncio.sleep(1)  # idle: start-up work done
        idle = rss_mb(proc.pid)
        after = None
        if reads:
            async with httpx.AsyncClient(base_url=url) as http:
                for i in range(reads):
                    response = await http.post("/graphql", json={"query": READS[i % len(READS)]})
                    assert response.status_code == 200, response.text
            after = rss_mb(proc.pid)
        return answered - started, idle, after
    finally:
        proc.terminate()
        await proc.wait()


async def main(runs: int, reads: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-startup-") as tmp:
        data = Path(tmp) / "data"
        relay_env = {"RELAY_DATA_DIR": str(data), "RELAY_HOST": "127.0.0.1", "PATH": ""}
        # The first start migrates the new database; the measured ones find it migrated.
        port = free_port()
        await run_once(
            [sys.executable, "-m", "relay.cli", "serve", "--migrate"],
            {**relay_env, "RELAY_PORT": str(port)},
            port,
            0,
        )
        figures: dict[str, list[tuple[float, float, float | None]]] = {"relay": [], "bare": []}
        for _ in range(runs):
            port = free_port()
            figures["relay"].append(
                await run_once(
                    [sys.executable, "-m", "relay.cli", "serve"],
                    {**relay_env, "RELAY_PORT": str(port)},
                    port,
                    reads,
                )
            )
            port = free_port()
            figures["bare"].append(
                await run_once([sys.executable, "-c", BARE.replace("PORT", str(port))], {}, port, 0)
            )
    for name, rows in figures.items():
        seconds = statistics.median(row[0] for row in rows)
        idle = statistics.median(row[1] for row in rows)
        line = f"{name:<6} ready in {seconds:.2f} s, idle RSS {idle:.0f} MB"
        afters = [row[2] for row in rows if row[2] is not None]
        if afters:
            line += f", RSS {statistics.median(afters):.0f} MB after {reads} reads"
        print(line)
    relay_ready = statistics.median(row[0] for row in figures["relay"])
    relay_idle = statistics.median(row[1] for row in figures["relay"])
    bare_ready = statistics.median(row[0] for row in figures["bare"])
    bare_idle = statistics.median(row[1] for row in figures["bare"])
    print(
        f"relay / bare ASGI: {relay_ready / bare_ready:.1f}x the start-up time, "
        f"{relay_idle / bare_idle:.1f}x the idle memory "
        f"(goals: ready <= 2 s: {'met' if relay_ready <= 2 else 'not met'}; "
        f"idle RSS <= 120 MB: {'met' if relay_idle <= 120 else 'not met'}; medians of {runs})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.reads))
