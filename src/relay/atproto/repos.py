"""Reading other people's repos over XRPC: list repos on a host, list records, or fetch a CAR."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from atproto_core.car import CAR

from relay.atproto.commits import block, walk_mst
from relay.errors import CommitError, RepoUnavailableError


@dataclass(frozen=True)
class RepoRecord:
    rkey: str
    cid: str
    value: Any


class RepoClient:
    def __init__(
        self, http: httpx.AsyncClient, *, timeout: float = 30.0, page_size: int = 100
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._page_size = page_size  # listRecords / listRepos page size (100 is the spec's max)

    async def _get(self, url: str, params: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._http.get(url, params=params, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise RepoUnavailableError(f"{url} unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise RepoUnavailableError(f"{url} answered HTTP {response.status_code}")
        return response

    async def _json(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self._get(url, params)
        try:
            body = response.json()
        except ValueError as exc:
            raise RepoUnavailableError(f"{url} answered with something not JSON") from exc
        if not isinstance(body, dict):
            raise RepoUnavailableError(f"{url} answered with a non-object")
        return body

    async def _pages(
        self, url: str, params: dict[str, Any], field: str
    ) -> AsyncIterator[list[Any]]:
        cursor: str | None = None
        while True:
            query = {**params, "limit": self._page_size, **({"cursor": cursor} if cursor else {})}
            body = await self._json(url, query)
            items = body.get(field)
            if not isinstance(items, list):
                raise RepoUnavailableError(f"{url} answered without a {field} list")
            yield items
            next_cursor = body.get("cursor")
            if not items or not isinstance(next_cursor, str) or next_cursor == cursor:
                return
            cursor = next_cursor

    async def list_repos(self, host: str) -> AsyncIterator[str]:
        """DIDs of the active repos on a PDS (``com.atproto.sync.listRepos``)."""
        url = f"{host.rstrip('/')}/xrpc/com.atproto.sync.listRepos"
        async for page in self._pages(url, {}, "repos"):
            for repo in page:
                active = isinstance(repo, dict) and repo.get("active", True)
                if active and isinstance(repo.get("did"), str):
                    yield repo["did"]

    async def list_repos_by_collection(self, host: str, collection: str) -> AsyncIterator[str]:
        """DIDs a relay reports as holding ``collection``."""
        url = f"{host.rstrip('/')}/xrpc/com.atproto.sync.listReposByCollection"
        async for page in self._pages(url, {"collection": collection}, "repos"):
            for repo in page:
                if isinstance(repo, dict) and isinstance(repo.get("did"), str):
                    yield repo["did"]

    async def list_records(
        self, pds_url: str, did: str, collection: str
    ) -> AsyncIterator[list[RepoRecord]]:
        """The repo's records of ``collection``, a page at a time (``repo.listRecords``)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.repo.listRecords"
        async for page in self._pages(url, {"repo": did, "collection": collection}, "records"):
            records = []
            for item in page:
                uri, cid = item.get("uri"), item.get("cid")
                if not isinstance(uri, str) or not isinstance(cid, str):
                    continue
                records.append(
                    RepoRecord(rkey=uri.rsplit("/", 1)[-1], cid=cid, value=item.get("value"))
                )
            yield records

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        """The repo's current revision (``sync.getLatestCommit``)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getLatestCommit"
        rev = (await self._json(url, {"did": did})).get("rev")
        return rev if isinstance(rev, str) else None

    async def export_records(
        self, pds_url: str, did: str, collection: str
    ) -> tuple[str | None, list[RepoRecord]]:
        """The one-request path: the whole repo as a CAR (``sync.getRepo``), walked for
        ``collection``. Returns (rev, records)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getRepo"
        response = await self._get(url, {"did": did})
        try:
            car = CAR.from_bytes(response.content)
            commit = block(car.blocks, car.root)
            if commit.get("did") != did:
                raise RepoUnavailableError(
                    f"the CAR for {did} holds the repo of {commit.get('did')}"
                )
            records = [
                RepoRecord(rkey=key.split("/", 1)[1], cid=cid, value=block(car.blocks, cid))
                for key, cid in walk_mst(car.blocks, commit["data"], prefix=f"{collection}/")
            ]
        except (CommitError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise RepoUnavailableError(f"the CAR for {did} could not be read: {exc}") from exc
        rev = commit.get("rev")
        return (rev if isinstance(rev, str) else None), records
