"""The ``relay`` command: ``serve``, ``dev``, ``db upgrade``, ``export-schema``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn
from rich.console import Console
from rich.panel import Panel
from starlette.applications import Starlette

from relay.errors import ConfigurationError
from relay.services.backfill import BackfillReport, BackfillRequest
from relay.settings import Settings, load_settings

console = Console(stderr=True)
log = logging.getLogger("relay.cli")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs full URLs at INFO; keep them (and anything token-bearing) out of the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _check_database(settings: Settings, migrate: bool) -> None:
    """Refuse to start on an un-migrated database (or migrate it) and on missing lexicons."""
    from relay.assembly import load_lexicons
    from relay.db.engine import create_engine, ensure_migrated

    load_lexicons(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url)
    try:
        await ensure_migrated(engine, migrate=migrate)
    finally:
        await engine.dispose()


# Collect young objects after this many more allocations than frees (Python's default: 700).
# A page of 100 tracks allocates thousands of short-lived objects, freed by reference counting:
# at 700 the collector ran about once a request and took ~12% of an uncached page's time.
GC_YOUNG_THRESHOLD = 20_000


def _tune_gc() -> None:
    """For a serving process: the collector runs less often (each run is still short)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _serve(
    settings: Settings, workers: int = 1, *, before_exit: Callable[[], None] | None = None
) -> None:
    """Serve until stopped; then ``before_exit`` (what must not outlive relay, such as
    ``relay dev``'s sandbox), before the process may leave at once past stuck threads."""
    from relay.app import create_app

    _tune_gc()

    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # access logs would carry query strings; metrics cover traffic
        # Ctrl-C waits this long for open requests and subscriptions, then closes them.
        "timeout_graceful_shutdown": 10,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        if before_exit is not None:
            before_exit()
        exit_despite_stuck_threads()
        return
    if not settings.resolved_database_url.startswith("postgresql"):
        log.warning(
            "%d workers on SQLite: trackEvents subscribers see only their own worker's changes "
            "(events cross processes on PostgreSQL)",
            workers,
        )
    from relay.workers import serve_workers

    # Each worker process builds its app from the same environment, on its own socket.
    status = serve_workers(workers, options)
    if status:
        raise SystemExit(status)


def worker_app() -> Starlette:
    """The app of one ``relay serve --workers N`` process (settings from the environment)."""
    from relay.app import create_app

    settings = load_settings()
    _configure_logging(settings.log_level)
    _tune_gc()
    return create_app(settings)


def cmd_serve(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    settings = load_settings()
    _configure_logging(settings.log_level)
    asyncio.run(_check_database(settings, migrate=args.migrate or settings.auto_migrate))
    _serve(settings, workers=args.workers)


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    settings = load_settings()
    _configure_logging(settings.log_level)
    asyncio.run(_check_database(settings, migrate=True))
    console.print(
        f"[green]database is at the newest revision[/] ({settings.resolved_database_url})"
    )


def cmd_export_schema(args: argparse.Namespace) -> None:
    from relay.graphql.schema import export_sdl

    sdl = export_sdl()
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl, encoding="utf-8")
        console.print(f"wrote {args.output}")


async def _backfill(settings: Settings, request: BackfillRequest) -> int:
    from contextlib import AsyncExitStack

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from relay.assembly import assemble

    async with AsyncExitStack() as stack:
        parts = await assemble(settings, stack)
        columns = (
            TextColumn("[bold]backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("repos · {task.fields[records]} records · {task.fields[errors]} errors"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("backfill", total=None, records=0, errors=0)

            def progress(report: BackfillReport) -> None:
                bar.update(
                    task,
                    total=report.repos,
                    completed=report.done + report.failed + report.skipped,
                    records=report.records,
                    errors=report.failed,
                )

            report = await parts.sync.backfill.run(request, progress=progress)
    console.print(
        f"[green]done[/] in {report.seconds:.1f}s: {report.repos} repos "
        f"({report.done} indexed, {report.skipped} already done, {report.failed} failed), "
        f"{report.records} records read, {report.created} new, {report.updated} changed, "
        f"{report.removed} removed, {report.invalid} invalid skipped"
    )
    for target, message in report.errors:
        console.print(f"  [red]✗[/] {target}: {message}")
    return 1 if report.failed else 0


def cmd_backfill(args: argparse.Namespace) -> None:
    from relay.services.backfill import BackfillRequest

    settings = load_settings()
    _configure_logging("WARNING")
    request = BackfillRequest(
        dids=tuple(args.did),
        handles=tuple(args.handle),
        pds_hosts=tuple(args.pds),
        relay_hosts=tuple(args.relay),
        use_car=args.car,
    )
    if not request.names_repos:
        raise SystemExit("name repos: --did, --handle, --pds HOST or --relay HOST")
    asyncio.run(_check_database(settings, migrate=settings.auto_migrate))
    raise SystemExit(asyncio.run(_backfill(settings, request)))


async def _ingest(settings: Settings) -> None:
    failed: BaseException | None = None
    try:
        await _ingest_until_stopped(settings)
    except asyncio.CancelledError:  # Ctrl-C
        raise
    except BaseException as exc:
        failed = exc
        raise
    finally:  # stopped or failed: nothing of it may keep the process alive
        if await end_leftover_tasks():
            if failed is not None:
                log.error("relay ingest failed: %s", failed, exc_info=failed)
            _leave_now(0 if failed is None else 1)


async def _ingest_until_stopped(settings: Settings) -> None:
    from contextlib import AsyncExitStack

    from relay.assembly import assemble

    async with AsyncExitStack() as stack:
        parts = await assemble(settings, stack)
        if parts.sync.firehose is None:
            raise ConfigurationError("is not set; nothing to ingest", variable="RELAY_FIREHOSE_URL")
        parts.sync.start()
        console.print(f"ingesting from {settings.firehose_url} (Ctrl-C to stop)")
        try:
            await asyncio.Event().wait()
        finally:
            try:
                async with asyncio.timeout(_STOP_SECONDS):
                    await parts.sync.stop()
            except TimeoutError:
                log.error("the firehose and backfills did not stop within %gs", _STOP_SECONDS)


_STOP_SECONDS = 15.0


async def end_leftover_tasks(seconds: float = 5.0) -> list[str]:
    """After a clean stop, cancel the tasks still running and wait up to ``seconds``: the names
    of those that ignored it, each logged with where it is stuck. ``asyncio.run`` would wait for
    them for ever (`relay ingest` once ignored Ctrl-C that way)."""
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if not left:
        return []
    for task in left:
        task.cancel()
    _, pending = await asyncio.wait(left, timeout=seconds)
    for task in pending:
        where = io.StringIO()
        task.print_stack(file=where)
        log.warning("task %s ignored its cancellation:\n%s", task.get_name(), where.getvalue())
    return sorted(task.get_name() for task in pending)


def _leave_now(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_despite_stuck_threads() -> None:
    """After a clean stop, leave even if a library thread is still alive (e.g. a database
    connection's worker whose task was cancelled mid-query): Ctrl-C must end the process, and
    what it held was already closed or rolled back. The thread is named in the log."""
    stuck = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    stuck = [name for name in stuck if name != threading.main_thread().name]
    if stuck:
        log.warning("exiting with threads still running: %s", ", ".join(stuck))
        _leave_now(0)


def cmd_ingest(args: argparse.Namespace) -> None:
    settings = load_settings()
    _configure_logging(settings.log_level)
    asyncio.run(_check_database(settings, migrate=settings.auto_migrate))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_ingest(settings))
    exit_despite_stuck_threads()


def cmd_oauth_key(args: argparse.Namespace) -> None:
    from relay.keys import new_client_key_json

    sys.stdout.write(new_client_key_json() + "\n")


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def cmd_dev(args: argparse.Namespace) -> None:
    """A full local stack: sandbox PLC + PDS, a demo account, and relay on SQLite + filesystem."""
    from relay.sandbox import LocalNetwork, ensure_installed

    # SIGTERM (a `kill`, a container or service stop) ends it as Ctrl-C does, through the
    # ``finally`` that stops the sandbox: uvicorn re-raises the signal once it has shut down,
    # and its default action left the sandbox PLC and PDS running, holding their ports.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    root = Path(args.data_dir).resolve()
    if root.exists():
        shutil.rmtree(root)  # the PLC directory is in memory: start every dev run afresh
    ensure_installed()
    network = LocalNetwork(root / "network", plc_port=args.plc_port, pds_port=args.pds_port)
    console.print("starting the sandbox PLC directory and PDS…")
    network.start()
    try:
        account = network.create_account("musician.test", password="demo-password")  # noqa: S106
        artist = network.create_account("nightjar.test")  # the demo catalogue's artist
        listeners = [network.create_account(h) for h in ("wren.test", "heron.test")]  # its fans
        os.environ.setdefault("RELAY_DATA_DIR", str(root / "relay"))
        os.environ.setdefault("RELAY_PLC_URL", network.plc_url)
        os.environ.setdefault("RELAY_HANDLE_RESOLVER_URL", network.pds_url)
        # The sandbox listens on 127.0.0.1: a development stack may reach private addresses.
        os.environ.setdefault("RELAY_ALLOW_PRIVATE_ADDRESSES", "true")
        os.environ.setdefault("RELAY_FIREHOSE_URL", f"ws://localhost:{network.pds_port}/xrpc")
        os.environ.setdefault("RELAY_ADMIN_DIDS", account.did)
        os.environ.setdefault("RELAY_DEMO_HANDLE", account.handle)
        os.environ.setdefault("RELAY_DEMO_PASSWORD", account.password)
        settings = load_settings()
        _configure_logging(settings.log_level)
        asyncio.run(_check_database(settings, migrate=True))
        url = settings.resolved_public_url
        console.print(
            Panel.fit(
                f"relay        {url}/graphql\n"
                f"sandbox PDS  {network.pds_url}   PLC {network.plc_url}\n\n"
                f"demo account [bold]{account.handle}[/]  password [bold]{account.password}[/]\n"
                f"             {account.did}\n\n"
                f"demo catalogue: tracks and an album by {artist.handle}, liked by "
                f"{' and '.join(a.handle for a in listeners)} (with a playlist), made once relay "
                "answers\n"
                f"sign in from a browser at {url}/ (ATProto OAuth on the sandbox PDS)\n"
                f"data in {root} (reset on the next `relay dev`)",
                title="relay dev",
            )
        )
        # Plain print, no wrapping: the command must survive copy and paste.
        print(
            "log in:\n"
            f"  curl -s {url}/graphql -H 'content-type: application/json' -d "
            f'\'{{"query":"mutation {{ login(identifier: \\"{account.handle}\\", '
            f'password: \\"{account.password}\\") {{ token }} }}"}}\'\n'
            "then upload with the token as shown in README.md\n",
            flush=True,
        )
        from relay.demo import seed_in_background

        seed_in_background(
            url,
            artist.handle,
            artist.password,
            tuple((a.handle, a.password) for a in listeners),
            pds_url=network.pds_url,
        )
        # Stopped before relay may leave at once (a stuck library thread): the sandbox PLC and
        # PDS outlived such an exit and held their ports.
        _serve(settings, before_exit=network.stop)
    finally:
        network.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API (configured by RELAY_* variables)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the API (use PostgreSQL so events reach every worker)",
    )
    serve.set_defaults(func=cmd_serve)

    dev = sub.add_parser("dev", help="relay + a sandbox PDS with a demo account")
    dev.add_argument("--data-dir", default="data/dev")
    dev.add_argument("--plc-port", type=int, default=2582)
    dev.add_argument("--pds-port", type=int, default=2583)
    dev.set_defaults(func=cmd_dev)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    backfill = sub.add_parser("backfill", help="index app.relay.track records from repos")
    backfill.add_argument("--did", action="append", default=[], help="a repo (repeatable)")
    backfill.add_argument("--handle", action="append", default=[], help="a repo by handle")
    backfill.add_argument("--pds", action="append", default=[], help="every repo on a PDS host")
    backfill.add_argument(
        "--relay", action="append", default=[], help="every repo a relay lists for the collection"
    )
    backfill.add_argument("--car", action="store_true", help="read each repo as one CAR")
    backfill.set_defaults(func=cmd_backfill)

    ingest = sub.add_parser("ingest", help="consume RELAY_FIREHOSE_URL without serving the API")
    ingest.set_defaults(func=cmd_ingest)

    key = sub.add_parser("oauth-key", help="print a new OAuth client key (RELAY_OAUTH_CLIENT_KEY)")
    key.set_defaults(func=cmd_oauth_key)

    export = sub.add_parser("export-schema", help="print or write the GraphQL SDL")
    export.add_argument("--output", "-o", default="-")
    export.set_defaults(func=cmd_export_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/] {exc.message}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
