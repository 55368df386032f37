"""Reads: paging through one repo's tracks via the PDS itself and via relay.

    .venv/bin/python -m bench.reads [--records 1000] [--rounds 3] [--clients 1 8]
        [--database-url URL] [--workers 1 2]

1. Seeds ``--records`` app.relay.track records in one repo on the sandbox PDS and lets relay
   index them (a backfill into relay's database).
2. Starts ``relay serve`` as its own process on that database, once per ``--workers`` count
   (default: 1, and one worker per core).
3. In alternating rounds, each client pages through all the records — via the PDS's
   ``com.atproto.repo.listRecords(limit: 100)`` and via relay's ``tracks(first: 100)`` asking for
   the same fields — over one keep-alive connection per client; with 1 and 8 concurrent clients.

Prints pages/s for both and relay's ratio (medians over the rounds). Goals (issue 13): >= 1x the
PDS's pages/s without a response cache, >= 2x with it. With the cache, each client's first pass
(the warm-up) fills it and the measured pass is served from it: the repeated reads of a popular
catalogue. Figures only.
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
from typing import Any

import httpx

from bench.backfill import indexed_relay
from relay.sandbox import LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.processes import relay_process, until_serving

PAGE = """
query($did: String!, $after: String) {
  tracks(first: 100, after: $after, where: {artistDid: $did}, orderBy: {field: CREATED_AT}) {
    pageInfo { endCursor hasNextPage }
    edges { node { uri cid title artist album audioUrl fileType duration createdAt } }
  }
}
"""


async def pds_pages(http: httpx.AsyncClient, did: str) -> int:
    pages, cursor = 0, None
    while True:
        params: dict[str, Any] = {"repo": did, "collection": "app.relay.track", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await http.get("/xrpc/com.atproto.repo.listRecords", params=params)
        response.raise_for_status()
        body = response.json()
        pages += 1
        cursor = body.get("cursor")
        if not body["records"] or not cursor:
            return pages


async def relay_pages(http: httpx.AsyncClient, did: str) -> int:
    pages, after = 0, None
    while True:
        response = await http.post(
            "/graphql", json={"query": PAGE, "variables": {"did": did, "after": after}}
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        connection = body["data"]["tracks"]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]


async def rate(base_url: str, did: str, clients: int, pager: Any) -> float:
    """Pages per second with ``clients`` concurrent clients, each paging through everything."""
    async with AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60))
            for _ in range(clients)
        ]
        await asyncio.gather(*(pager(http, did) for http in https))  # warm the connections
        started = time.perf_counter()
        pages = sum(await asyncio.gather(*(pager(http, did) for http in https)))
        return float(pages / (time.perf_counter() - started))


async def _measure(
    settings: Settings,
    pds_url: str,
    did: str,
    client_counts: list[int],
    rounds: int,
    *,
    workers: int,
    cache: bool,
) -> None:
    """``relay serve --workers N`` with the response cache on or off, against the PDS."""
    relay_url = f"http://127.0.0.1:{settings.port}"
    async with relay_process(
        settings, "serve", "--workers", str(workers),
        RELAY_HOST="127.0.0.1", RELAY_PORT=str(settings.port),
        RELAY_RESPONSE_CACHE_ENTRIES="2000" if cache else "0",
    ) as proc:  # fmt: skip
        await until_serving(relay_url, proc)
        for clients in client_counts:
            pds: list[float] = []
            relay: list[float] = []
            for _ in range(rounds):  # alternating, so neither gets a quieter moment
                pds.append(await rate(pds_url, did, clients, pds_pages))
                relay.append(await rate(relay_url, did, clients, relay_pages))
            p, r = statistics.median(pds), statistics.median(relay)
            print(
                f"{workers} worker(s), cache {'on ' if cache else 'off'} {clients} client(s): "
                f"PDS listRecords {p:,.0f} pages/s, relay tracks {r:,.0f} pages/s "
                f"= {r / p:.2f}x the PDS (goal >= {2 if cache else 1}x)",
                flush=True,
            )


async def main(
    records: int,
    rounds: int,
    client_counts: list[int],
    database_url: str | None,
    worker_counts: list[int],
) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        root = Path(tmp)
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        try:
            account = network.create_account(f"r{secrets.token_hex(3)}.test")
            settings = await indexed_relay(network, account, records, root / "relay", database_url)
            for workers in worker_counts:
                for cache in (False, True):
                    await _measure(
                        settings, network.pds_url, account.did, client_counts, rounds,
                        workers=workers, cache=cache,
                    )  # fmt: skip
                print(
                    f"({records} records, medians of {rounds} rounds; "
                    f"{'PostgreSQL' if database_url else 'SQLite'}, {workers} worker(s))"
                )
        finally:
            network.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--database-url")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}),
        help="relay serve --workers counts to measure (default: 1 and one per core)",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(main(args.records, args.rounds, args.clients, args.database_url, args.workers))
