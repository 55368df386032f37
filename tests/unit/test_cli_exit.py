"""`relay ingest` ends on Ctrl-C even when a library thread is still alive after the clean stop
(a fake stuck thread stands in for a database worker whose task was cancelled mid-query)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest

from relay.cli import end_leftover_tasks

PROGRAM = """
import logging, threading
from relay.cli import exit_despite_stuck_threads
logging.basicConfig(level="INFO")
threading.Thread(target=threading.Event().wait, name="fake-stuck-worker").start()
exit_despite_stuck_threads()
raise SystemExit("not reached: the process should have left")
"""


def test_a_stuck_thread_does_not_keep_the_process_alive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "exiting with threads still running: fake-stuck-worker" in done.stderr


SERVING = """
import logging, threading
import relay.app, relay.cli
from relay.settings import Settings
logging.basicConfig(level="INFO")
relay.app.create_app = lambda settings: None  # no app: only what happens after serving counts
relay.cli.uvicorn.run = lambda app, **options: None  # served and stopped
threading.Thread(target=threading.Event().wait, name="fake-stuck-worker").start()
relay.cli._serve(Settings(_env_file=None), before_exit=lambda: print("sandbox stopped", flush=True))
raise SystemExit("not reached: the process should have left")
"""


def test_what_must_not_outlive_relay_is_stopped_before_it_leaves_past_a_stuck_thread() -> None:
    # `relay dev`'s sandbox PLC and PDS stayed up, holding their ports, when relay left at once.
    done = subprocess.run(
        [sys.executable, "-c", SERVING], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sandbox stopped", done.stderr
    assert "exiting with threads still running: fake-stuck-worker" in done.stderr


def test_no_stuck_thread_returns_normally() -> None:
    program = "from relay.cli import exit_despite_stuck_threads\n"
    program += "exit_despite_stuck_threads()\nprint('returned')\n"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr


async def test_tasks_left_after_a_stop_are_cancelled_and_the_stubborn_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # asyncio.run waits for every task it cancels, for ever: `relay ingest` once ignored Ctrl-C
    # that way. A fake stubborn task stands in for one that swallows its cancellation.
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # ignores it, until released

    polite = asyncio.create_task(asyncio.sleep(60), name="fake-polite")
    stuck = asyncio.create_task(stubborn(), name="fake-stubborn")
    await asyncio.sleep(0)
    try:
        with caplog.at_level(logging.WARNING, logger="relay.cli"):
            assert await end_leftover_tasks(seconds=0.2) == ["fake-stubborn"]
        assert polite.cancelled()
        [logged] = [r.getMessage() for r in caplog.records if "fake-stubborn" in r.getMessage()]
        assert "ignored its cancellation" in logged and "stubborn" in logged.split("\n", 1)[1]
    finally:
        released.set()
        stuck.cancel()
        await stuck


async def test_no_task_left_is_nothing_to_do() -> None:
    assert await end_leftover_tasks(seconds=0.2) == []
