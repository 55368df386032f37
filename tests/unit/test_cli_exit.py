"""`relay ingest` ends on Ctrl-C even when a library thread is still alive after the clean stop
(a fake stuck thread stands in for a database worker whose task was cancelled mid-query)."""

from __future__ import annotations

import subprocess
import sys

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


def test_no_stuck_thread_returns_normally() -> None:
    program = "from relay.cli import exit_despite_stuck_threads\n"
    program += "exit_despite_stuck_threads()\nprint('returned')\n"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr
