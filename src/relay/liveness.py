"""Whether a process is still running — to tell leftovers of dead processes from work in flight
when several processes share a data directory."""

from __future__ import annotations

import os


def process_running(pid: int) -> bool:
    """True while another process ``pid`` runs. This process's own pid counts as not running:
    at start, anything named after it was left by a predecessor that had the same pid."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user
    return True
