"""Search at scale: generated tracks written straight into the index, searched through relay.

    .venv/bin/python -m bench.search [--sizes 100000 1000000] [--database sqlite postgresql]
        [--samples 40]

For each size and database:
1. Writes ``size`` generated tracks into a fresh, migrated index (no PDS): titles, artists and
   albums drawn from a 20,000-word vocabulary with a Zipf distribution, as real catalogues are
   (a few words everywhere, most words rare). The writes go through the database's own
   full-text triggers or generated column, as relay's do.
2. Starts ``relay serve`` (one worker, response cache off) on that index.
3. Asks ``tracks(first: 20, where: {search})`` over HTTP, one request at a time: common words
   (in ~1-5% of tracks), rare words (a handful of tracks), two-word searches, type-ahead prefixes
   (2-3 letters), common words ordered by RELEVANCE, and a deep page: the page ``after`` the
   10,000th row of the whole catalogue, newest first.

Prints p50/p95 per kind, and the p95 against the goal (issue 13: p95 <= 50 ms at 1,000,000
tracks). Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from relay.db.engine import create_engine, ensure_migrated
from relay.db.models import TrackRow
from relay.db.track_mapper import NewTrack
from relay.sandbox import free_port
from relay.settings import Settings
from tests.harness.postgres import scratch_database
from tests.harness.processes import relay_process, until_serving

SEARCH = """
query($s: String!, $order: TrackOrder, $after: String) {
  tracks(first: 20, where: {search: $s}, orderBy: $order, after: $after) {
    pageInfo { endCursor hasNextPage }
    edges { node { uri title artist album duration } }
  }
}
"""
PAGE = """
query($after: String) {
  tracks(first: 20, after: $after) { pageInfo { endCursor } edges { node { uri title } } }
}
"""
SYLLABLES = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"] + ["ly", "ra", "en", "or"]
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(words)


class Catalogue:
    """Generated tracks, and the word counts their searches are picked from."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(self.rng)
        ranks = range(1, len(self.words) + 1)
        self.cum = list(_cumulative([1 / rank**1.07 for rank in ranks]))
        self.size = size
        self.artists = [self.phrase(2) for _ in range(max(size // 20, 1))]
        self.albums = [self.phrase(2) for _ in range(max(size // 10, 1))]
        self.counts: Counter[str] = Counter()

    def phrase(self, words: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=words)).title()

    def rows(self, start: int, count: int) -> list[dict[str, Any]]:
        out = []
        for i in range(start, start + count):
            title = self.phrase(self.rng.randint(1, 4))
            artist_index = int(self.rng.paretovariate(1.2)) % len(self.artists)
            album = self.rng.choice(self.albums) if self.rng.random() < 0.7 else None
            self.counts.update(set(title.lower().split()))
            did = f"did:plc:{artist_index:024d}"
            rkey = f"3k{i:011d}"
            created = EPOCH + timedelta(seconds=i * 37)
            track = NewTrack(
                uri=f"at://{did}/app.relay.track/{rkey}",
                artist_did=did,
                rkey=rkey,
                cid=None,
                rev=None,
                file_id=None,
                title=title,
                artist=self.artists[artist_index],
                album=album,
                audio_url=f"https://cdn.example/{i}.mp3",
                file_type="mp3",
                duration=self.rng.randint(60, 600),
                record_created_at=created.isoformat(),
                created_at=created,
                indexed_at=created,
                artist_handle=None,
                publish_state="PUBLISHED",
            )
            track.derive_keys()
            out.append(track.columns())
        return out

    def searches(self, samples: int) -> dict[str, list[str]]:
        ranked = [word for word, _ in self.counts.most_common()]
        common = [w for w in ranked if 0.01 <= self.counts[w] / self.size <= 0.05] or ranked[:50]
        rare = [w for w in ranked if 2 <= self.counts[w] <= 10] or ranked[-50:]
        pick = random.Random(11)
        prefixes = sorted({w[: pick.randint(2, 3)] for w in ranked[:200]})
        return {
            "common word": pick.choices(common, k=samples),
            "rare word": pick.choices(rare, k=samples),
            "two words": [
                f"{a} {b[:3]}"
                for a, b in zip(
                    pick.choices(common, k=samples),
                    pick.choices(ranked[:2000], k=samples),
                    strict=True,
                )
            ],
            "prefix (type-ahead)": pick.choices(prefixes, k=samples),
        }


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


async def fill(database_url: str, catalogue: Catalogue) -> float:
    engine = create_engine(database_url)
    started = time.perf_counter()
    try:
        await ensure_migrated(engine, migrate=True)
        batch = 5000
        for start in range(0, catalogue.size, batch):
            rows = catalogue.rows(start, min(batch, catalogue.size - start))
            async with engine.begin() as conn:
                await conn.execute(insert(TrackRow), rows)
            done = start + len(rows)
            if done % 100_000 == 0 or done == catalogue.size:
                print(f"  {done:,} tracks written ({time.perf_counter() - started:.0f} s)")
        if engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load: statistics, and the GIN index's
            # pending entries merged (read by every search until then).
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.exec_driver_sql("VACUUM ANALYZE tracks")
    finally:
        await engine.dispose()
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    elapsed = time.perf_counter() - started
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return elapsed * 1000


async def measure(base_url: str, catalogue: Catalogue, samples: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    relevance = {"field": "RELEVANCE", "direction": "DESC"}
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        kinds = catalogue.searches(samples)
        for text in kinds["common word"][:3]:  # warm-up: caches, plans
            await timed(http, SEARCH, {"s": text})
        for kind, texts in kinds.items():
            results[kind] = [await timed(http, SEARCH, {"s": text}) for text in texts]
        results["common word, by relevance"] = [
            await timed(http, SEARCH, {"s": text, "order": relevance})
            for text in kinds["common word"]
        ]
        # The cursor of the 10,000th row, reached once; then the page after it, timed.
        after = None
        for _ in range(10_000 // 20):
            response = await http.post(
                "/graphql", json={"query": PAGE, "variables": {"after": after}}
            )
            after = response.json()["data"]["tracks"]["pageInfo"]["endCursor"]
        results["deep page (after row 10,000)"] = [
            await timed(http, PAGE, {"after": after}) for _ in range(samples)
        ]
    return results


async def run(size: int, database: str, samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-search-") as tmp:
        root = Path(tmp)
        async with AsyncExitStack() as stack:
            if database == "postgresql":
                url = await stack.enter_async_context(scratch_database("relay_bench_search"))
            else:
                url = f"sqlite+aiosqlite:///{root / 'relay.db'}"
            catalogue = Catalogue(size)
            print(f"{database}, {size:,} tracks:")
            seconds = await fill(url, catalogue)
            print(f"  written in {seconds:.0f} s ({size / seconds:,.0f} tracks/s)")
            settings = Settings(_env_file=None, data_dir=root / "relay", database_url=url,
                                port=free_port())  # fmt: skip
            base_url = f"http://127.0.0.1:{settings.port}"
            async with relay_process(
                settings, "serve", RELAY_HOST="127.0.0.1", RELAY_PORT=str(settings.port),
                RELAY_RESPONSE_CACHE_ENTRIES="0",
            ) as proc:  # fmt: skip
                await until_serving(base_url, proc)
                results = await measure(base_url, catalogue, samples)
        for kind, values in results.items():
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            verdict = "meets" if p95 <= 50 else "misses"
            print(f"  {kind:<30} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  ({verdict} p95 <= 50 ms)")


async def main(sizes: list[int], databases: list[str], samples: int) -> None:
    for size in sizes:
        for database in databases:
            await run(size, database, samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--database", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.database, args.samples))
