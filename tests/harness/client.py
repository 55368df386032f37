"""A GraphQL client that speaks to relay over HTTP as third-party clients do."""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import httpx

UPLOAD = """
mutation Upload($input: UploadTrackInput!) {
  uploadTrack(input: $input) {
    id uri cid rkey title artist album audioUrl imageUrl fileType duration createdAt indexedAt
    record artistDid artistHandle publishState publishError
  }
}
"""


@dataclass
class GraphQLResult:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert "errors" not in self.body or not self.body["errors"], self.body
        data = self.body["data"]
        assert isinstance(data, dict)
        return data

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.body.get("errors") or []]

    @property
    def messages(self) -> list[str]:
        return [e["message"] for e in self.body.get("errors") or []]


class RelayClient:
    """``async with RelayClient(url) as client``; ``token`` goes with calls that name none."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60, transport=transport)

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.http.aclose()

    def _headers(self, token: str | None) -> dict[str, str]:
        token = token or self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> GraphQLResult:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self._headers(token),
        )
        return GraphQLResult(response.status_code, response.json())

    async def login(self, identifier: str, password: str) -> str:
        result = await self.gql(
            "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }",
            {"i": identifier, "p": password},
        )
        token = result.data["login"]["token"]
        assert isinstance(token, str)
        return token

    async def upload(
        self,
        path: Path,
        *,
        title: str | None = "A Track",
        artist: str | None = "An Artist",
        album: str | None = None,
        publish: bool = True,
        token: str | None = None,
        preflight: bool = True,
        filename: str | None = None,
        image: Path | None = None,
    ) -> GraphQLResult:
        inputs: dict[str, Any] = {"file": None, "publish": publish}
        if image is not None:
            inputs["image"] = None
        if title is not None:
            inputs["title"] = title
        if artist is not None:
            inputs["artist"] = artist
        if album is not None:
            inputs["album"] = album
        operations = {"query": UPLOAD, "variables": {"input": inputs}}
        headers = self._headers(token)
        if preflight:
            headers["Apollo-Require-Preflight"] = "true"
        name = filename or path.name
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts = {"0": ["variables.input.file"]}
        files: dict[str, Any] = {"0": (name, await anyio.Path(path).read_bytes(), ctype)}
        if image is not None:
            parts["1"] = ["variables.input.image"]
            image_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
            files["1"] = (image.name, await anyio.Path(image).read_bytes(), image_type)
        response = await self.http.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps(parts)},
            files=files,
            headers=headers,
        )
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text}
        return GraphQLResult(response.status_code, body)
