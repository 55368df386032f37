"""Backfill benchmark: 5,000 records over several repos on the sandbox PDS.

    .venv/bin/python -m bench.backfill [--repos 5] [--per-repo 1000] [--database-url URL]
        [--rounds 3]

Prints, for ``--rounds`` alternating rounds and their medians: the raw time of just paging
listRecords over the same repos (same concurrency), relay's backfill over listRecords (validate +
upsert into an empty index), and the one-request CAR path (sync.getRepo walked) — with the
ratios. Figures, not assertions. On this 2-core machine the PDS and relay share the cores, so it
also prints the CPU each side spent: relay's backfill cannot take less time than its CPU, nor
than the CPU of both sides shared over the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psutil
from sqlalchemy import text

from relay.assembly import assemble
from relay.atproto.repos import RepoClient
from relay.db.engine import create_engine
from relay.sandbox import Account, LocalNetwork, free_port
from relay.services.backfill import BackfillRequest
from relay.settings import Settings
from tests.harness.pds import session, track_record


async def seed(network: LocalNetwork, account: Account, count: int) -> None:
    """Write ``count`` records with applyWrites, 200 per commit."""
    token = await session(network, account)
    async with httpx.AsyncClient(timeout=60) as http:
        for start in range(0, count, 200):
            writes = [
                {
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": "app.relay.track",
                    "value": track_record(f"Bench {start + i}", duration=start + i),
                }
                for i in range(min(200, count - start))
            ]
            response = await http.post(
                f"{network.pds_url}/xrpc/com.atproto.repo.applyWrites",
                json={"repo": account.did, "writes": writes},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()


async def indexed_relay(
    network: LocalNetwork, account: Account, records: int, data_dir: Path, database_url: str | None
) -> Settings:
    """Seed ``records`` tracks in ``account``'s repo and index them (a backfill) into a new relay
    at ``data_dir``: the settings of that relay (on a free port), for ``relay serve``."""
    await seed(network, account, records)
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        auto_migrate=True,
        plc_url=network.plc_url,
        allow_private_addresses=True,
        handle_resolver_url=network.pds_url,
        port=free_port(),
    )
    async with AsyncExitStack() as stack:
        parts = await assemble(settings, stack)
        report = await parts.sync.backfill.run(BackfillRequest(dids=(account.did,)))
        assert report.created == records, report
    return settings


async def raw_paging(network: LocalNetwork, dids: list[str], concurrency: int) -> tuple[float, int]:
    gate = asyncio.Semaphore(concurrency)
    total = 0
    async with httpx.AsyncClient() as http:
        repos = RepoClient(http)

        async def one(did: str) -> None:
            nonlocal total
            async with gate:
                async for page in repos.list_records(network.pds_url, did, "app.relay.track"):
                    total += len(page)

        started = time.perf_counter()
        await asyncio.gather(*(one(did) for did in dids))
        return time.perf_counter() - started, total


class CpuClock:
    """CPU seconds spent by this process (every thread: relay's backfill and its database
    threads, or the raw pager) and by the PDS, since the last ``lap``."""

    def __init__(self, network: LocalNetwork) -> None:
        pid = network.pds.pid
        self._pds = psutil.Process(pid) if pid is not None else None
        self._last = self._now()

    def _now(self) -> tuple[float, float]:
        pds = 0.0
        if self._pds is not None:
            times = self._pds.cpu_times()
            pds = times.user + times.system
        return time.process_time(), pds

    def lap(self) -> tuple[float, float]:
        now = self._now()
        spent = (now[0] - self._last[0], now[1] - self._last[1])
        self._last = now
        return spent


async def relay_backfill(
    settings: Settings, dids: list[str], use_car: bool, clock: CpuClock
) -> tuple[float, int, tuple[float, float]]:
    """Relay's backfill of ``dids``: seconds, tracks created, and the CPU its run took (not
    relay's start and stop)."""
    async with AsyncExitStack() as stack:
        parts = await assemble(settings, stack)
        clock.lap()
        report = await parts.sync.backfill.run(BackfillRequest(dids=tuple(dids), use_car=use_car))
        spent = clock.lap()
        assert report.failed == 0, report.errors
        return report.seconds, report.created, spent


async def empty_index(database_url: str) -> None:
    """Between rounds on a shared database: every round indexes from nothing."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table in ("tracks", "backfill_repos"):
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 — fixed names
    finally:
        await engine.dispose()


async def main(repos: int, per_repo: int, database_url: str | None, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        root = Path(tmp)
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        try:
            accounts = [
                network.create_account(f"r{secrets.token_hex(3)}.test") for _ in range(repos)
            ]
            started = time.perf_counter()
            for account in accounts:
                await seed(network, account, per_repo)
            print(
                f"seeded {repos} repos x {per_repo} records in {time.perf_counter() - started:.1f}s"
            )
            dids = [a.did for a in accounts]

            def settings(name: str) -> Settings:
                return Settings(
                    _env_file=None,
                    data_dir=root / name,
                    database_url=database_url,
                    auto_migrate=True,
                    plc_url=network.plc_url,
                    allow_private_addresses=True,
                    handle_resolver_url=network.pds_url,
                )

            concurrency = settings("x").backfill_concurrency
            times: dict[str, list[float]] = {"raw": [], "pages": [], "car": []}
            cpu: dict[str, list[tuple[float, float]]] = {"raw": [], "pages": []}
            total = repos * per_repo
            clock = CpuClock(network)
            for n in range(rounds):  # alternating, so a warming PDS favours none of them
                clock.lap()
                raw_seconds, raw_count = await raw_paging(network, dids, concurrency)
                cpu["raw"].append(clock.lap())
                run = await relay_backfill(settings(f"p{n}"), dids, False, clock)
                pages_seconds, created, pages_cpu = run
                cpu["pages"].append(pages_cpu)
                if database_url is not None:
                    await empty_index(database_url)
                car_seconds, car_created, _ = await relay_backfill(
                    settings(f"c{n}"), dids, True, clock
                )
                if database_url is not None:
                    await empty_index(database_url)
                assert raw_count == created == car_created == total, (raw_count, created)
                times["raw"].append(raw_seconds)
                times["pages"].append(pages_seconds)
                times["car"].append(car_seconds)
                print(
                    f"round {n + 1}: raw {raw_seconds:.2f} s, pages {pages_seconds:.2f} s "
                    f"({pages_seconds / raw_seconds:.2f}x), CAR {car_seconds:.2f} s"
                )
            raw, pages, car = (statistics.median(times[k]) for k in ("raw", "pages", "car"))
            print(f"medians of {rounds} rounds on {'PostgreSQL' if database_url else 'SQLite'}:")
            print(f"raw listRecords paging: {raw:6.2f} s  ({total} records)")
            print(
                f"relay backfill (pages): {pages:6.2f} s  {pages / raw:.2f}x raw  (target <= 1.2x)"
            )
            print(
                f"relay backfill (CAR):   {car:6.2f} s  {car / raw:.2f}x raw, "
                f"{car / pages:.2f}x pages"
            )
            print(f"throughput: pages {total / pages:,.0f} rec/s, CAR {total / car:,.0f} rec/s")
            cores = os.cpu_count() or 1
            for name in ("raw", "pages"):
                own, pds = (statistics.median(c[i] for c in cpu[name]) for i in (0, 1))
                print(
                    f"cpu, {name + ':':6} {'relay' if name == 'pages' else 'pager'} {own:.2f} s, "
                    f"PDS {pds:.2f} s; over {cores} cores at least {(own + pds) / cores:.2f} s"
                )
        finally:
            network.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=5)
    parser.add_argument("--per-repo", type=int, default=1000)
    parser.add_argument(
        "--database-url", default=None, help="its tracks are deleted between rounds"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.repos, args.per_repo, args.database_url, args.rounds))
