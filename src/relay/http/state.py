"""The lifespan state (Starlette's pattern: the lifespan yields it, each request sees it as
``request.state``), typed: one entry, relay's assembled object graph."""

from __future__ import annotations

from typing import TypedDict

from starlette.requests import HTTPConnection

from relay.assembly import Assembled


class LifespanState(TypedDict):
    relay: Assembled


def relay_of(connection: HTTPConnection) -> Assembled:
    """relay's object graph, for a request or WebSocket handled by this app."""
    parts = connection.state.relay
    if not isinstance(parts, Assembled):
        raise TypeError("the relay lifespan state is missing (did the app start?)")
    return parts
