"""Firehose lag: PDS commit → visible in relay's index (and so in a GraphQL query).

    .venv/bin/python -m bench.firehose_lag [--rate 10] [--seconds 20]

Writes records to the sandbox PDS at a steady rate while relay consumes its firehose; a
``trackEvents`` subscription is notified right after each row commits, so the time from the
createRecord acknowledgement to that notification is the lag. Prints p50/p95/max. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from relay.sandbox import LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.pds import session, track_record
from tests.harness.server import run_relay
from tests.harness.subscriptions import GraphQLSubscription

EVENTS = "subscription($d: String!) { trackEvents(where: {artistDid: $d}) { kind uri } }"


async def main(rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        root = Path(tmp)
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        try:
            account = network.create_account(f"l{secrets.token_hex(3)}.test")
            settings = Settings(
                _env_file=None,
                data_dir=root / "relay",
                auto_migrate=True,
                plc_url=network.plc_url,
                allow_private_addresses=True,
                handle_resolver_url=network.pds_url,
                firehose_url=f"ws://localhost:{network.pds_port}/xrpc",
            )
            async with run_relay(settings) as relay, httpx.AsyncClient(timeout=30) as http:
                subscription = await GraphQLSubscription.open(relay.url, EVENTS, {"d": account.did})
                await asyncio.sleep(2)  # let the consumer connect and its start-up backfill end
                token = await session(network, account)
                written: dict[str, float] = {}
                lags: list[float] = []

                async def listen() -> None:
                    while len(lags) < total:
                        event = (await subscription.next(timeout=30))["trackEvents"]
                        if event["kind"] == "CREATED" and event["uri"] in written:
                            lags.append(time.perf_counter() - written[event["uri"]])

                total = int(rate * seconds)
                listener = asyncio.create_task(listen())
                started = time.perf_counter()
                for i in range(total):
                    response = await http.post(
                        f"{network.pds_url}/xrpc/com.atproto.repo.createRecord",
                        json={
                            "repo": account.did,
                            "collection": "app.relay.track",
                            "record": track_record(f"Lag {i}"),
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    response.raise_for_status()
                    written[response.json()["uri"]] = time.perf_counter()
                    await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
                await asyncio.wait_for(listener, 60)
                await subscription.close()
            lags_ms = sorted(lag * 1000 for lag in lags)
            p95 = lags_ms[int(len(lags_ms) * 0.95) - 1]
            print(
                f"{len(lags_ms)} records at {rate:g}/s: commit -> indexed lag "
                f"p50 {statistics.median(lags_ms):.1f} ms, p95 {p95:.1f} ms, "
                f"max {lags_ms[-1]:.1f} ms"
            )
        finally:
            network.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
