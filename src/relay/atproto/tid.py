"""Timestamp identifiers (TIDs): the record keys of ``app.relay.track`` (atproto record keys)."""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}\Z")


def is_tid(value: str) -> bool:
    """Whether ``value`` is a TID (what record keys and repo revisions are)."""
    return _TID.match(value) is not None


def _encode(value: int) -> str:
    out = []
    for _ in range(13):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


class TidClock:
    """Issues strictly increasing TIDs: microseconds since the epoch plus a random clock id."""

    def __init__(self, clock_id: int | None = None) -> None:
        self._clock_id = secrets.randbelow(1024) if clock_id is None else clock_id & 1023
        self._last = 0

    def next(self) -> str:
        micros = max(time.time_ns() // 1000, self._last + 1)
        self._last = micros
        return _encode((micros << 10) | self._clock_id)
