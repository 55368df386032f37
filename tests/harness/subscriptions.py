"""A graphql-transport-ws client, as Apollo/urql subscription clients speak it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class GraphQLSubscription:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    @classmethod
    async def open(
        cls,
        base_url: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> GraphQLSubscription:
        """Subscribe, anonymously or with a session ``token`` (sent as a bearer header)."""
        ws = await websockets.connect(
            base_url.replace("http://", "ws://", 1) + "/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            additional_headers={"Authorization": f"Bearer {token}"} if token else None,
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(_text(await asyncio.wait_for(ws.recv(), 10)))
        assert ack["type"] == "connection_ack", ack
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        return cls(ws)

    async def next(self, timeout: float = 20) -> dict[str, Any]:
        while True:
            message = json.loads(_text(await asyncio.wait_for(self._ws.recv(), timeout)))
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                assert "errors" not in payload, payload
                data: dict[str, Any] = payload["data"]
                return data
            if message["type"] == "ping":
                await self._ws.send(json.dumps({"type": "pong"}))
                continue
            raise AssertionError(f"unexpected message {message}")

    async def quiet(self, seconds: float) -> bool:
        """True if nothing arrives for ``seconds``."""
        try:
            message = await asyncio.wait_for(self._ws.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {message}")

    async def close(self) -> None:
        await self._ws.close()


def _text(frame: str | bytes) -> str:
    """graphql-transport-ws speaks in text frames: browsers' clients read nothing else."""
    assert isinstance(frame, str), f"a binary frame: {frame[:80]!r}"
    return frame
