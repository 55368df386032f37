"""Mixed load: many concurrent clients reading while two musicians upload, edit and delete.

    .venv/bin/python -m bench.load [--clients 100] [--seconds 60] [--records 1000]
        [--database-url URL] [--workers 1]

1. Seeds ``--records`` tracks in one repo on the sandbox PDS and lets relay index them.
2. Starts ``relay serve`` (``--workers`` processes; response cache on, as deployed) and signs two
   musicians in (app passwords).
3. For ``--seconds``: ``--clients`` readers, each on its own keep-alive connection, ask in turn for
   a page of tracks (newest first, a random later page by cursor), one track by URI, an artist
   with their tracks, and a search; meanwhile each musician uploads a real audio file, renames
   it, and deletes it, over and over.

Prints requests/s, p50/p95/p99 latency per kind and overall, and every error by kind: an HTTP
status other than 200, a GraphQL error, a dropped or refused connection, a timeout. Goal (issue
13): 0 errors, p95 <= 250 ms. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.backfill import indexed_relay
from bench.lean_http import LeanConnection, LeanHttpError
from relay.sandbox import Account, LocalNetwork, free_port
from tests.harness.audio import make_audio
from tests.harness.client import UPLOAD
from tests.harness.processes import relay_process, until_serving

PAGE = """
query($after: String) {
  tracks(first: 20, after: $after) {
    pageInfo { endCursor hasNextPage }
    edges { node { uri title artist album duration audioUrl artistHandle } }
  }
}
"""
TRACK = "query($uri: String!) { track(uri: $uri) { uri title artist album duration audioUrl } }"
ARTIST = """
query($did: String!) {
  artist(did: $did) { did handle trackCount tracks(first: 10) { edges { node { uri title } } } }
}
"""
SEARCH = """
query($s: String!) {
  tracks(first: 20, where: {search: $s}) { edges { node { uri title artist } } }
}
"""
LOGIN = "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }"
RENAME = "mutation($id: ID!, $t: String!) { updateTrack(id: $id, input: {title: $t}) { id } }"
DELETE = "mutation($id: ID!) { deleteTrack(id: $id) { deletedId } }"
WORDS = ["bench", "bench 1", "bench 42", "be", "nothing here", "bench 99"]


class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.cached: Counter[str] = Counter()

    async def call(
        self,
        http: httpx.AsyncClient,
        kind: str,
        *,
        json: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            response = await http.post("/graphql", json=json, **kwargs)
        except httpx.TimeoutException:
            self.errors[f"{kind}: timeout"] += 1
            return None
        except httpx.TransportError as exc:
            self.errors[f"{kind}: connection ({type(exc).__name__})"] += 1
            return None
        return self._answered(
            kind, started, response.status_code, response.headers, response.content
        )

    def _answered(
        self, kind: str, started: float, status: int, headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any] | None:
        """Tally an answer: its latency, whether the cache gave it, and any error; its data."""
        self.latency[kind].append((time.perf_counter() - started) * 1000)
        self.cached[kind] += headers.get("x-relay-cache") == "hit"
        if status != 200:
            self.errors[f"{kind}: HTTP {status}"] += 1
            return None
        found: dict[str, Any] = orjson.loads(body)
        if found.get("errors"):
            error = found["errors"][0]
            code = error.get("extensions", {}).get("code", "?")
            self.errors[f"{kind}: GraphQL {code} ({error.get('message', '')[:80]})"] += 1
            return None
        data: dict[str, Any] = found["data"]
        return data

    async def query(
        self, conn: LeanConnection, kind: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``call`` for the readers, over the lean client (``bench.lean_http``)."""
        started = time.perf_counter()
        try:
            answer = await conn.post(
                "/graphql", orjson.dumps({"query": query, "variables": variables})
            )
        except TimeoutError:
            self.errors[f"{kind}: timeout"] += 1
            return None
        except LeanHttpError as exc:
            self.errors[f"{kind}: connection ({exc})"] += 1
            return None
        return self._answered(kind, started, answer.status, answer.headers, answer.body)


async def reader(
    base_url: str, tally: Tally, until: float, uris: list[str], dids: list[str], seed_: int
) -> None:
    rng = random.Random(seed_)
    cursors: list[str | None] = [None]
    url = httpx.URL(base_url)
    conn = LeanConnection(url.host, url.port or 80, timeout=30)
    try:
        while time.monotonic() < until:
            pick = rng.random()
            if pick < 0.4:
                data = await tally.query(conn, "page", PAGE, {"after": rng.choice(cursors)})
                if data and len(cursors) < 50 and data["tracks"]["pageInfo"]["hasNextPage"]:
                    cursors.append(data["tracks"]["pageInfo"]["endCursor"])
            elif pick < 0.65:
                await tally.query(conn, "track", TRACK, {"uri": rng.choice(uris)})
            elif pick < 0.8:
                await tally.query(conn, "artist", ARTIST, {"did": rng.choice(dids)})
            else:
                await tally.query(conn, "search", SEARCH, {"s": rng.choice(WORDS)})
    finally:
        await conn.close()


async def musician(
    base_url: str, tally: Tally, until: float, account: Account, audio: Path
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        login = {"query": LOGIN, "variables": {"i": account.handle, "p": account.password}}
        data = await tally.call(http, "login", json=login)
        assert data is not None, "a musician could not sign in"
        auth = {"Authorization": f"Bearer {data['login']['token']}"}
        round_ = 0
        while time.monotonic() < until:
            round_ += 1
            operations = {
                "query": UPLOAD,
                "variables": {"input": {"file": None, "title": f"Load {round_}", "publish": True}},
            }
            started = time.perf_counter()
            try:
                with audio.open("rb") as handle:
                    response = await http.post(
                        "/graphql",
                        data={
                            "operations": _json(operations),
                            "map": '{"0": ["variables.input.file"]}',
                        },
                        files={"0": (audio.name, handle, "audio/mpeg")},
                        headers={**auth, "Apollo-Require-Preflight": "true"},
                    )
            except httpx.TransportError as exc:
                tally.errors[f"upload: connection ({type(exc).__name__})"] += 1
                continue
            tally.latency["upload"].append((time.perf_counter() - started) * 1000)
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                tally.errors[f"upload: {body.get('errors', response.status_code)}"[:120]] += 1
                await asyncio.sleep(1)
                continue
            track_id = body["data"]["uploadTrack"]["id"]
            rename = {"query": RENAME, "variables": {"id": track_id, "t": f"Load {round_} (edit)"}}
            await tally.call(http, "edit", json=rename, headers=auth)
            delete = {"query": DELETE, "variables": {"id": track_id}}
            await tally.call(http, "delete", json=delete, headers=auth)


def _json(value: Any) -> str:
    return json.dumps(value)


async def all_uris(base_url: str) -> list[str]:
    query = (
        "query($a: String) { tracks(first: 100, after: $a) "
        "{ pageInfo { endCursor hasNextPage } edges { node { uri } } } }"
    )
    uris: list[str] = []
    after = None
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while True:
            body = (
                await http.post("/graphql", json={"query": query, "variables": {"a": after}})
            ).json()
            page = body["data"]["tracks"]
            uris += [edge["node"]["uri"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return uris
            after = page["pageInfo"]["endCursor"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the machine spent busy and idle so far, over every core (``/proc/stat``;
    zeros where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]  # idle, iowait
    per_second = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / per_second, idle / per_second


def report(tally: Tally, seconds: float) -> None:
    every = [value for values in tally.latency.values() for value in values]
    total = len(every) + sum(tally.errors.values())
    for kind, values in sorted(tally.latency.items()):
        print(
            f"  {kind:<8} {len(values):>7,} answered  p50 {statistics.median(values):7.1f} ms  "
            f"p95 {percentile(values, 0.95):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms  "
            f"{tally.cached[kind] / len(values):4.0%} from the response cache"
        )
    p95 = percentile(every, 0.95)
    errors = sum(tally.errors.values())
    print(
        f"  all      {total / seconds:,.0f} requests/s, p50 {statistics.median(every):.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {percentile(every, 0.99):.1f} ms, {errors} errors "
        f"(goal: 0 errors, p95 <= 250 ms: {'met' if errors == 0 and p95 <= 250 else 'not met'})"
    )
    for what, count in tally.errors.most_common():
        print(f"    {count:>6} x {what}")


async def main(
    clients: int, seconds: float, records: int, database_url: str | None, workers: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-load-") as tmp:
        root = Path(tmp)
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        try:
            catalogue = network.create_account(f"c{secrets.token_hex(3)}.test")
            musicians = [network.create_account(f"m{i}{secrets.token_hex(3)}.test") for i in (1, 2)]
            settings = await indexed_relay(
                network, catalogue, records, root / "relay", database_url
            )
            audio = make_audio(root / "load.mp3", "mp3", seconds=3)
            base_url = f"http://127.0.0.1:{settings.port}"
            async with relay_process(
                settings, "serve", "--workers", str(workers),
                RELAY_HOST="127.0.0.1", RELAY_PORT=str(settings.port),
                RELAY_RATE_MUTATIONS_PER_CALLER="100000/minute",
                RELAY_RATE_UPLOADS_PER_CALLER="100000/hour",
                RELAY_RATE_LOGIN_PER_ADDRESS="1000/minute",
            ) as proc:  # fmt: skip
                await until_serving(base_url, proc)
                uris = await all_uris(base_url)
                tally = Tally()
                until = time.monotonic() + seconds
                started = time.perf_counter()
                own_cpu, machine = time.process_time(), machine_cpu()
                dids = [catalogue.did, *(m.did for m in musicians)]
                await asyncio.gather(
                    *(reader(base_url, tally, until, uris, dids, i) for i in range(clients)),
                    *(musician(base_url, tally, until, m, audio) for m in musicians),
                )
                elapsed = time.perf_counter() - started
                own_cpu = time.process_time() - own_cpu
                busy, cores = machine_cpu()[0] - machine[0], os.cpu_count() or 1
            print(
                f"{clients} readers + 2 musicians for {elapsed:.0f} s on "
                f"{'PostgreSQL' if database_url else 'SQLite'}, {workers} worker(s), "
                f"{records} indexed tracks:"
            )
            report(tally, elapsed)
            print(
                f"  cpu      this load generator used {own_cpu / elapsed:.2f} of the "
                f"{cores} cores; the machine was {busy / elapsed / cores:.0%} busy"
            )
        finally:
            network.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--database-url")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds, args.records, args.database_url, args.workers))
