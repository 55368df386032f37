"""Firehose ingest throughput: how many events per second relay takes from a stream that looks
like the network's — mostly other collections, a few app.relay.track commits.

    .venv/bin/python -m bench.ingest_throughput [--events 2000] [--repeat 25] [--track-share 0.05]
        [--artist-share 0.1] [--account-events] [--save-frames FILE]

1. Writes ``--events`` real commits to the sandbox PDS (posts, likes and follows, and
   ``--track-share`` of app.relay.track records by two artists, who also make ``--artist-share``
   of the rest; eight listeners make the others), one commit per event, and
   records the PDS's firehose after the accounts were made: genuine signed commits, each with
   sync v1.1's prevData. (``--account-events`` records the accounts' creation events too; replayed
   25 times, each refreshes an artist's identity or backfills its repo.)
2. Serves the recording ``--repeat`` times, with increasing ``seq``, from a WebSocket server in a
   separate process, as fast as the client reads.
3. Measures, on the same stream and machine: a bare WebSocket reader (the floor), the reader plus
   libipld decoding every frame, and relay's firehose consumer (SQLite) — which verifies the
   signature, inverts the ops to prevData and proves every op of each app.relay.track commit,
   checks every commit of the artists' repos against the last one verified (the chain), and
   stores the changes and cursor. The share of a core relay's process and event loop used is
   printed with it.

Prints events/s for each and relay's ratio to the floor. Goal: >= 30,000 events/s on one core.
Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import libipld
import websockets

from relay.sandbox import Account, LocalNetwork, free_port
from relay.settings import Settings
from tests.harness.pds import session, track_record
from tests.harness.server import run_relay

OTHER = ("app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow")


def other_record(collection: str, account: Account, i: int) -> dict[str, Any]:
    now = "2026-01-02T03:04:05.000Z"
    if collection == "app.bsky.feed.post":
        return {"$type": collection, "text": f"post {i} " + "x" * (i % 200), "createdAt": now}
    subject = f"at://{account.did}/app.bsky.feed.post/3kaaaaaaaaaa{i % 10}"
    if collection == "app.bsky.feed.like":
        cid = "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q"
        return {"$type": collection, "subject": {"uri": subject, "cid": cid}, "createdAt": now}
    return {"$type": collection, "subject": account.did, "createdAt": now}


async def last_seq(network: LocalNetwork) -> int:
    """The PDS's latest event so far (the accounts' own #identity/#account/#sync events)."""
    url = f"ws://localhost:{network.pds_port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
    seq = 0
    async with websockets.connect(url, max_size=None) as socket:
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await asyncio.wait_for(socket.recv(), timeout=2)
                _, body = libipld.decode_dag_cbor_multi(frame)  # type: ignore[arg-type]
                seq = max(seq, body.get("seq", 0))
    return seq


async def write_commits(
    network: LocalNetwork,
    artists: list[Account],
    listeners: list[Account],
    count: int,
    track_share: float,
    artist_share: float,
) -> int:
    """``count`` commits: ``track_share`` of them tracks by the artists; the rest posts, likes
    and follows — ``artist_share`` of them by the artists, the others by listeners."""
    accounts = artists + listeners
    tokens = {a.did: await session(network, a) for a in accounts}
    rng = random.Random(7)
    tracks = 0
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=network.pds_url, timeout=60) as http:

        async def one(i: int) -> None:
            nonlocal tracks
            if rng.random() < track_share:
                account = artists[i % len(artists)]
                collection, record = "app.relay.track", track_record(f"Track {i}")
                tracks += 1
            else:
                account = (
                    artists[i % len(artists)]
                    if rng.random() < artist_share
                    else listeners[i % len(listeners)]
                )
                collection = OTHER[i % len(OTHER)]
                record = other_record(collection, account, i)
            async with gate:
                response = await http.post(
                    "/xrpc/com.atproto.repo.createRecord",
                    json={"repo": account.did, "collection": collection, "record": record},
                    headers={"Authorization": f"Bearer {tokens[account.did]}"},
                )
                response.raise_for_status()

        await asyncio.gather(*(one(i) for i in range(count)))
    return tracks


async def record_stream(network: LocalNetwork, after: int, expected_commits: int) -> list[bytes]:
    """Every frame the PDS has emitted after seq ``after``."""
    url = f"ws://localhost:{network.pds_port}/xrpc/com.atproto.sync.subscribeRepos?cursor={after}"
    frames: list[bytes] = []
    commits = 0
    async with websockets.connect(url, max_size=None) as socket:
        while commits < expected_commits:
            frame = await asyncio.wait_for(socket.recv(), timeout=30)
            assert isinstance(frame, bytes)
            header, _ = libipld.decode_dag_cbor_multi(frame)
            commits += header.get("t") == "#commit"
            frames.append(frame)
    return frames


def with_seq(frame: bytes, seq: int) -> bytes:
    header, body = libipld.decode_dag_cbor_multi(frame)
    body["seq"] = seq
    return bytes(libipld.encode_dag_cbor(header)) + bytes(libipld.encode_dag_cbor(body))


def serve(frames: list[bytes], repeat: int, port: int, ready: Any) -> None:
    """The replay server (its own process): the recording ``repeat`` times, seq 1, 2, 3…"""
    stream = [with_seq(frame, n + 1) for n, frame in enumerate(frames * repeat)]

    async def replay(client: Any) -> None:
        for frame in stream:
            await client.send(frame)
        await client.wait_closed()

    async def main() -> None:
        async with websockets.serve(replay, "127.0.0.1", port, max_size=None, compression=None):
            ready.set()
            await asyncio.Future()

    asyncio.run(main())


async def bare_reader(url: str, total: int, decode: bool) -> float:
    started = time.perf_counter()
    async with websockets.connect(url, max_size=None, compression=None) as socket:
        for _ in range(total):
            frame = await socket.recv()
            if decode:
                libipld.decode_dag_cbor_multi(frame)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def relay_consumer(settings: Settings, total: int) -> tuple[float, dict[str, Any]]:
    """Seconds from relay's first event to its last (start-up not counted), and its counters."""
    async with run_relay(settings, in_process=True) as relay:
        stats = relay.parts.sync.stats
        while stats.events == 0:  # noqa: ASYNC110 — polling the counters is the measurement
            await asyncio.sleep(0.001)
        started, first = time.perf_counter(), stats.events
        cpu, loop_cpu = time.process_time(), time.thread_time()
        while stats.events < total:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - started
        elapsed = wall * total / (total - first)
        print(
            f"relay's process used {(time.process_time() - cpu) / wall:.0%} of a core, "
            f"its event loop {(time.thread_time() - loop_cpu) / wall:.0%}"
        )
        return elapsed, {"applied": stats.applied, "dropped": dict(stats.dropped)}


async def main(
    events: int,
    repeat: int,
    track_share: float,
    artist_share: float,
    account_events: bool,
    save: Path | None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        root = Path(tmp)
        network = LocalNetwork(root / "net", plc_port=free_port(), pds_port=free_port())
        network.start()
        spawn = multiprocessing.get_context("spawn")
        server: Any = None
        try:
            print(f"writing {events} commits to the sandbox PDS …")
            artists = [network.create_account(f"a{secrets.token_hex(3)}.test") for _ in range(2)]
            listeners = [network.create_account(f"l{secrets.token_hex(3)}.test") for _ in range(8)]
            # The network's stream is commits, with a rare account event; replaying the accounts'
            # creation 25 times over would make it 0.6% account events, all of artists.
            after = 0 if account_events else await last_seq(network)
            tracks = await write_commits(
                network, artists, listeners, events, track_share, artist_share
            )
            frames = await record_stream(network, after, events)
            if save is not None:  # for profiling relay's handling alone, offline
                await asyncio.to_thread(save.write_bytes, libipld.encode_dag_cbor(frames))
            kinds: dict[str, int] = {}
            artist_dids = {a.did for a in artists}
            for frame in frames:
                header, body = libipld.decode_dag_cbor_multi(frame)
                if isinstance(body, dict) and body.get("repo") in artist_dids:
                    kinds["by artists"] = kinds.get("by artists", 0) + 1
                kinds[str(header.get("t"))] = kinds.get(str(header.get("t")), 0) + 1
                if isinstance(body, dict) and body.get("prevData") is not None:
                    kinds["with prevData"] = kinds.get("with prevData", 0) + 1
            total = len(frames) * repeat
            print(
                f"recorded {len(frames)} frames {kinds}, {tracks} app.relay.track commits "
                f"({tracks / events:.1%}); replaying {repeat}x = {total} events"
            )
            port = free_port()
            ready = spawn.Event()
            server = spawn.Process(target=serve, args=(frames, repeat, port, ready), daemon=True)
            server.start()
            ready.wait(300)
            url = f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos"
            floor = await bare_reader(url, total, decode=False)
            decoded = await bare_reader(url, total, decode=True)
            settings = Settings(
                _env_file=None,
                data_dir=root / "relay",
                auto_migrate=True,
                plc_url=network.plc_url,
                allow_private_addresses=True,
                handle_resolver_url=network.pds_url,
                firehose_url=f"ws://127.0.0.1:{port}/xrpc",
                firehose_recv_timeout_seconds=600,
            )
            elapsed, counts = await relay_consumer(settings, total)
            print(f"bare WebSocket reader        {total / floor:>10,.0f} events/s")
            print(f"reader + libipld decode      {total / decoded:>10,.0f} events/s")
            print(
                f"relay firehose consumer      {total / elapsed:>10,.0f} events/s "
                f"({elapsed / floor:.2f}x the bare reader's time); "
                f"applied {counts['applied']}, dropped {counts['dropped']}"
            )
            print("goal: >= 30,000 events/s on one core")
        finally:
            if server is not None:
                server.kill()
            network.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--track-share", type=float, default=0.05)
    parser.add_argument(
        "--artist-share", type=float, default=0.1,
        help="of the other commits, the share the artists make (each verified: the chain)",
    )  # fmt: skip
    parser.add_argument(
        "--account-events", action="store_true",
        help="also replay the accounts' creation events (#identity, #account, #sync)",
    )  # fmt: skip
    parser.add_argument("--save-frames", type=Path, help="also write the recording here")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.events,
            args.repeat,
            args.track_share,
            args.artist_share,
            args.account_events,
            args.save_frames,
        )
    )
