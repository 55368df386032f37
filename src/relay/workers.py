"""``relay serve --workers N``: N API processes on one port, each with its own listening socket.

uvicorn's own ``--workers`` shares one socket between its processes; Linux then hands a burst of
new keep-alive connections mostly to whichever process is waiting in ``accept`` first, and under
100 clients one worker served nearly all of them while the others idled. Here every worker binds
its own socket with ``SO_REUSEPORT``, so the kernel spreads connections across them by hash.

The supervisor (this process) forwards SIGINT/SIGTERM once to every worker — which runs in its own
process group, so a terminal's Ctrl-C does not reach it twice (uvicorn takes a second signal as
"exit now, skip shutdown") — and restarts a worker that dies, unless it dies again at once. A
worker whose supervisor is gone stops by itself."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

_BACKLOG = 2048  # uvicorn's default
_QUICK_DEATH_SECONDS = 5.0  # a worker that dies this soon after starting is not restarted


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(_BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _watch_parent(parent: int, server: Any) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    server.should_exit = True  # the supervisor was killed: do not serve on as an orphan


def _worker(options: dict[str, Any], parent: int) -> None:
    """One worker process: its own socket, its own app built from the environment."""
    import uvicorn

    from relay.cli import worker_app

    os.setpgid(0, 0)  # the supervisor forwards signals; a terminal's Ctrl-C stays with it
    try:
        sock = reuse_port_socket(options["host"], options["port"])
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", options["host"], options["port"], exc)
        raise SystemExit(3) from None
    server = uvicorn.Server(uvicorn.Config(worker_app(), **options))
    threading.Thread(target=_watch_parent, args=(parent, server), daemon=True).start()
    server.run(sockets=[sock])
    from relay.cli import exit_despite_stuck_threads

    exit_despite_stuck_threads()


@dataclass
class _Slot:
    number: int
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)


def serve_workers(workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` API processes until SIGINT/SIGTERM; the exit status to end with."""
    context = multiprocessing.get_context("spawn")  # nothing built here leaks into a worker
    stopping = threading.Event()

    def start(number: int) -> _Slot:
        process = context.Process(
            target=_worker, args=(options, os.getpid()), name=f"relay-worker-{number}"
        )
        process.start()
        return _Slot(number, process)

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    slots = [start(n) for n in range(workers)]
    log.info("serving with %d worker processes (pids %s)", workers,
             ", ".join(str(s.process.pid) for s in slots))  # fmt: skip
    status = 0
    try:
        while not stopping.wait(0.5):
            for i, slot in enumerate(slots):
                if slot.process.is_alive():
                    continue
                code = slot.process.exitcode
                if time.monotonic() - slot.started < _QUICK_DEATH_SECONDS:
                    log.error("worker %d exited at start (status %s); stopping", slot.number, code)
                    status = 1
                    stopping.set()
                    break
                log.error("worker %d died (status %s); starting another", slot.number, code)
                slots[i] = start(slot.number)
    finally:
        for slot in slots:
            if slot.process.is_alive() and slot.process.pid is not None:
                os.kill(slot.process.pid, signal.SIGTERM)
        for slot in slots:
            slot.process.join(30)
            if slot.process.is_alive():
                log.error("worker %d did not stop within 30 s; killing it", slot.number)
                slot.process.kill()
                slot.process.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status
