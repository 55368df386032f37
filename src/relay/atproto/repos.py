"""Reading other people's repos over XRPC: list repos on a host, list records, or fetch a CAR."""

from __future__ import annotations

import base64
import hashlib
import logging
import mmap
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

import anyio
import httpx

from relay import jsonc
from relay.atproto.car import VerifiedBlocks
from relay.atproto.commits import block, verify_commit, walk_mst
from relay.errors import CommitError, RepoUnavailableError
from relay.net.outbound import MAX_BYTES, REQUEST_ERRORS, TOTAL_SECONDS, ResponseTooLargeError

log = logging.getLogger("relay.repos")
MAX_COLLECTIONS = 10_000  # in one describeRepo answer (a repo holds a few dozen)


def _host(url: str) -> str:
    return urlparse(url).netloc or "the host"


@dataclass(frozen=True)
class RepoRecord:
    rkey: str
    cid: str
    value: Any


@dataclass(frozen=True)
class CarBounds:
    """What one ``sync.getRepo`` CAR may be: bytes (spooled to ``spool_dir``, not held in
    memory), blocks (each costs an entry in the index of where it lies), download time."""

    max_bytes: int = 512 * 2**20
    max_blocks: int = 500_000
    seconds: float = 300.0
    spool_dir: Path | None = None  # None: the system's temporary directory


class RepoClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: float = 30.0,
        page_size: int = 100,
        car: CarBounds | None = None,
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._page_size = page_size  # listRecords / listRepos page size (100 is the spec's max)
        self._car = car or CarBounds()

    async def _get(self, url: str, params: dict[str, Any]) -> httpx.Response:
        with _reaching(url):
            response = await self._http.get(url, params=params, timeout=self._timeout)
        _accepted(url, response)
        return response

    async def _json(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        response = await self._get(url, params)
        try:
            body = jsonc.loads(response.content)
        except ValueError as exc:
            raise RepoUnavailableError(f"{url} answered with something not JSON") from exc
        if not isinstance(body, dict):
            raise RepoUnavailableError(f"{url} answered with a non-object")
        return body

    async def _pages(
        self, url: str, params: dict[str, Any], field: str
    ) -> AsyncIterator[list[Any]]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = {**params, "limit": self._page_size, **({"cursor": cursor} if cursor else {})}
            body = await self._json(url, query)
            items = body.get(field)
            if not isinstance(items, list) or len(items) > self._page_size:
                raise RepoUnavailableError(f"{_host(url)} answered without a {field} page")
            yield items
            next_cursor = body.get("cursor")
            if not items or not isinstance(next_cursor, str):
                return
            if next_cursor in seen or len(next_cursor) > 1024:
                # A cursor that comes back would page forever: the listing is not trusted.
                raise RepoUnavailableError(f"{_host(url)} repeats a page cursor")
            seen.add(next_cursor)
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
    ) -> AsyncGenerator[list[RepoRecord], None]:
        """The repo's records of ``collection``, a page at a time (``repo.listRecords``)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.repo.listRecords"
        async for page in self._pages(url, {"repo": did, "collection": collection}, "records"):
            records = []
            prefix = f"at://{did}/{collection}/"
            for item in page:
                if not isinstance(item, dict):
                    continue
                uri, cid = item.get("uri"), item.get("cid")
                if not isinstance(uri, str) or not isinstance(cid, str):
                    continue
                if not uri.startswith(prefix):
                    continue  # another repo's or collection's record: not this listing's
                records.append(
                    RepoRecord(rkey=uri.rsplit("/", 1)[-1], cid=cid, value=item.get("value"))
                )
            yield records

    async def repo_status(self, pds_url: str, did: str) -> str:
        """What the PDS says of ``did``'s repo (``sync.getRepoStatus``): ``active``, ``deleted``
        (also when it does not know the repo) or the inactive status it names (``deactivated``,
        ``takendown``, ``suspended``…; ``inactive`` when it names none)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getRepoStatus"
        try:
            response = await self._http.get(url, params={"did": did}, timeout=self._timeout)
        except REQUEST_ERRORS as exc:
            log.warning("repo status %s failed: %s", url, exc)
            raise RepoUnavailableError(f"{_host(url)} could not be reached") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code in (400, 404) and body.get("error") == "RepoNotFound":
            return "deleted"
        if response.status_code != 200:
            log.warning("repo status %s answered HTTP %s", url, response.status_code)
            raise RepoUnavailableError(f"{_host(url)} refused the request")
        if body.get("active") is True:
            return "active"
        status = body.get("status")
        return status if isinstance(status, str) and 0 < len(status) <= 64 else "inactive"

    async def get_blob(self, pds_url: str, did: str, cid: str, *, max_bytes: int) -> bytes:
        """A blob of ``did``'s repo from its PDS (``sync.getBlob``), at most ``max_bytes``, and
        only if its bytes are what ``cid`` names (a raw-codec SHA-256 CID)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getBlob"
        limits = {MAX_BYTES: max_bytes, TOTAL_SECONDS: self._timeout}
        too_large = "the blob is larger than {limit} bytes"
        with _reaching(url, too_large=too_large):
            response = await self._http.get(
                url, params={"did": did, "cid": cid}, timeout=self._timeout, extensions=limits
            )
        _accepted(url, response)
        data = response.content
        if raw_cid(data) != cid:
            log.warning("the blob %s of %s from %s is not what its CID names", cid, did, _host(url))
            raise RepoUnavailableError(f"{_host(url)} sent a blob that does not match its CID")
        return data

    async def collections(self, pds_url: str, did: str) -> frozenset[str] | None:
        """The collections the repo holds records of, as its PDS says (``repo.describeRepo``),
        or None when it does not say (then every collection is listed, as before)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.repo.describeRepo"
        try:
            body = await self._json(url, {"repo": did})
        except RepoUnavailableError as exc:
            log.info("describeRepo of %s: %s; listing every collection", did, exc.message)
            return None
        named = body.get("collections")
        if (
            body.get("did") != did
            or not isinstance(named, list)
            or len(named) > MAX_COLLECTIONS
            or not all(isinstance(nsid, str) and len(nsid) <= 317 for nsid in named)
        ):
            return None
        return frozenset(named)

    async def latest_rev(self, pds_url: str, did: str) -> str | None:
        """The repo's current revision (``sync.getLatestCommit``)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getLatestCommit"
        rev = (await self._json(url, {"did": did})).get("rev")
        return rev if isinstance(rev, str) else None

    async def export_records(
        self, pds_url: str, did: str, collections: Sequence[str], *, signing_key: str | None
    ) -> tuple[str | None, dict[str, list[RepoRecord]]]:
        """The one-request path: the whole repo as a CAR (``sync.getRepo``), its commit checked
        against the repo's signing key and every block read against its CID, walked for each of
        ``collections``. Returns (rev, records by collection)."""
        url = f"{pds_url.rstrip('/')}/xrpc/com.atproto.sync.getRepo"
        with tempfile.TemporaryFile(dir=self._car.spool_dir) as spool:
            size = await self._download(url, {"did": did}, spool)
            if size == 0:
                raise RepoUnavailableError(f"{_host(url)} sent an empty CAR for {did}")
            try:
                # Hashing, decoding and walking a large repo is seconds of CPU: not on the loop.
                return await anyio.to_thread.run_sync(
                    _records_in_car,
                    spool,
                    did,
                    tuple(collections),
                    signing_key,
                    self._car.max_blocks,
                )
            except (CommitError, KeyError, ValueError, TypeError) as exc:
                log.warning("the CAR of %s from %s: %r", did, _host(url), exc)
                raise RepoUnavailableError(f"the repo of {did} could not be verified") from exc

    async def _download(self, url: str, params: dict[str, Any], spool: BinaryIO) -> int:
        """Write the body of ``url`` to ``spool`` as it arrives (within ``CarBounds``)."""
        limits = {MAX_BYTES: self._car.max_bytes, TOTAL_SECONDS: self._car.seconds}
        written = 0
        too_large = "the repo is larger than {limit} bytes (RELAY_BACKFILL_MAX_CAR_BYTES)"
        with _reaching(url, too_large=too_large):
            async with self._http.stream(
                "GET", url, params=params, timeout=self._timeout, extensions=limits
            ) as response:
                _accepted(url, response)
                async for chunk in response.aiter_bytes():
                    spool.write(chunk)
                    written += len(chunk)
        spool.flush()
        return written


@contextmanager
def _reaching(url: str, *, too_large: str | None = None) -> Iterator[None]:
    """A request to ``url`` that fails on the way is a repo that cannot be reached (logged);
    ``too_large`` (with ``{limit}``) says what an answer over its bound is instead."""
    try:
        yield
    except REQUEST_ERRORS as exc:
        log.warning("repo request %s failed: %s", url, exc)
        if too_large is not None and isinstance(exc, ResponseTooLargeError):
            raise RepoUnavailableError(too_large.format(limit=exc.limit)) from exc
        raise RepoUnavailableError(f"{_host(url)} could not be reached") from exc


def _accepted(url: str, response: httpx.Response) -> None:
    """Anything but 200 is a refusal (logged)."""
    if response.status_code != 200:
        log.warning("repo request %s answered HTTP %s", url, response.status_code)
        raise RepoUnavailableError(f"{_host(url)} refused the request")


def raw_cid(data: bytes) -> str:
    """The CIDv1 (raw codec, SHA-256, base32) of ``data`` — how blobs are named."""
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(bytes([1, 0x55, 0x12, 0x20]) + digest).decode().lower().rstrip(
        "="
    )


def _records_in_car(
    spool: BinaryIO,
    did: str,
    collections: tuple[str, ...],
    signing_key: str | None,
    max_blocks: int,
) -> tuple[str | None, dict[str, list[RepoRecord]]]:
    """(rev, records by collection) of the CAR in ``spool``: its commit checked against the
    repo's signing key, every block read against its CID, only the collections' parts of the
    tree walked."""
    with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as data:
        blocks = VerifiedBlocks.from_mapped(data, max_blocks=max_blocks)
        if len(blocks.roots) != 1:
            raise CommitError("malformed", "the CAR does not name one commit")
        commit = block(blocks, blocks.roots[0])
        verify_commit(commit, repo=did, signing_key=signing_key)
        records = {
            collection: [
                RepoRecord(rkey=key.split("/", 1)[1], cid=cid, value=block(blocks, cid))
                for key, cid in walk_mst(blocks, commit["data"], prefix=f"{collection}/")
            ]
            for collection in collections
        }
    rev = commit.get("rev")
    return (rev if isinstance(rev, str) else None), records
