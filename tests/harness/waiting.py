"""One way to wait for something that happens in the background: ``eventually``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = 20,
    interval: float = 0.1,
    what: str = "the condition",
) -> T:
    """Call ``check`` until it returns something truthy and return that; fail after ``timeout``
    seconds naming ``what`` and the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"{what} never held within {timeout:g}s (last: {value!r})")
        await asyncio.sleep(interval)
