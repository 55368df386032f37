"""Direct access to the sandbox PDS, as another client of the network would have it.

Every helper is async: relay runs in the same event loop as the tests, so a blocking call here
would stall relay while the test waits on it.
"""

from __future__ import annotations

from typing import Any

import httpx

from relay.sandbox import Account, LocalNetwork


async def _call(
    network: LocalNetwork,
    method: str,
    nsid: str,
    *,
    account: Account | None = None,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=network.pds_url, timeout=10) as http:
        headers = {}
        if account is not None:
            headers["Authorization"] = f"Bearer {await session(network, account)}"
        return await http.request(
            method, f"/xrpc/{nsid}", params=params, json=body, headers=headers
        )


def _parts(uri: str) -> dict[str, str]:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    return {"repo": did, "collection": collection, "rkey": rkey}


async def session(network: LocalNetwork, account: Account) -> str:
    """A fresh PDS access token of ``account`` (app password sign-in)."""
    async with httpx.AsyncClient(base_url=network.pds_url, timeout=10) as http:
        response = await http.post(
            "/xrpc/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": account.password},
        )
    response.raise_for_status()
    token: str = response.json()["accessJwt"]
    return token


async def get_record(network: LocalNetwork, uri: str) -> dict[str, Any] | None:
    """The record at ``uri`` on the PDS (None if absent)."""
    response = await _call(network, "GET", "com.atproto.repo.getRecord", params=_parts(uri))
    if response.status_code == 400 and "RecordNotFound" in response.text:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def put_record(
    network: LocalNetwork, account: Account, uri: str, record: dict[str, Any]
) -> dict[str, Any]:
    """Rewrite a record behind relay's back (another client editing the same repo)."""
    response = await _call(
        network,
        "POST",
        "com.atproto.repo.putRecord",
        account=account,
        body={**_parts(uri), "record": record},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def track_record(title: str, **extra: object) -> dict[str, object]:
    return {
        "$type": "app.relay.track",
        "title": title,
        "artist": "Elsewhere",
        "audioUrl": "https://cdn.elsewhere.example/a.mp3",
        "fileType": "mp3",
        "createdAt": "2026-01-02T03:04:05.000Z",
        **extra,
    }


async def upload_blob(
    network: LocalNetwork, account: Account, data: bytes, mime: str
) -> dict[str, Any]:
    """Store a blob in ``account``'s repo (``repo.uploadBlob``); the blob ref to put in a record."""
    async with httpx.AsyncClient(base_url=network.pds_url, timeout=10) as http:
        response = await http.post(
            "/xrpc/com.atproto.repo.uploadBlob",
            content=data,
            headers={
                "Authorization": f"Bearer {await session(network, account)}",
                "Content-Type": mime,
            },
        )
    response.raise_for_status()
    blob: dict[str, Any] = response.json()["blob"]
    return blob


def like_record(uri: str, cid: str, **extra: object) -> dict[str, object]:
    return {
        "$type": "app.relay.like",
        "subject": {"uri": uri, "cid": cid},
        "createdAt": "2026-01-02T03:04:05.000Z",
        **extra,
    }


async def list_records(
    network: LocalNetwork, account: Account, collection: str
) -> list[dict[str, Any]]:
    """The account's records of ``collection`` as its PDS lists them."""
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{network.pds_url}/xrpc/com.atproto.repo.listRecords",
            params={"repo": account.did, "collection": collection, "limit": 100},
        )
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()["records"]
    return records


async def apply_writes(
    network: LocalNetwork, account: Account, writes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Several writes in one commit (``com.atproto.repo.applyWrites``), as another client would;
    each write is ``{"$type": "...#create", "collection": ..., "value": ...}`` or a delete."""
    response = await _call(
        network, "POST", "com.atproto.repo.applyWrites", account=account,
        body={"repo": account.did, "writes": writes},
    )  # fmt: skip
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json().get("results", [])
    return results


async def create_record(
    network: LocalNetwork,
    account: Account,
    record: dict[str, object],
    rkey: str | None = None,
    *,
    collection: str = "app.relay.track",
) -> dict[str, Any]:
    """Write a record as another client of the network would (relay never sees the request)."""
    body: dict[str, Any] = {"repo": account.did, "collection": collection, "record": record}
    if rkey is not None:
        body["rkey"] = rkey
    response = await _call(
        network, "POST", "com.atproto.repo.createRecord", account=account, body=body
    )
    response.raise_for_status()
    out: dict[str, Any] = response.json()
    return out


async def delete_record(network: LocalNetwork, account: Account, uri: str) -> None:
    response = await _call(
        network, "POST", "com.atproto.repo.deleteRecord", account=account, body=_parts(uri)
    )
    response.raise_for_status()


async def account_call(
    network: LocalNetwork, account: Account, nsid: str, body: dict[str, Any] | None = None
) -> None:
    """An authenticated procedure on the account itself (deactivate, activate, updateHandle);
    ``body=None`` sends no body, for procedures that take no input."""
    response = await _call(network, "POST", nsid, account=account, body=body)
    response.raise_for_status()


async def delete_account(network: LocalNetwork, account: Account) -> None:
    """Delete the account on the PDS as its operator would (the admin API)."""
    async with httpx.AsyncClient(base_url=network.pds_url, timeout=10) as http:
        response = await http.post(
            "/xrpc/com.atproto.admin.deleteAccount",
            json={"did": account.did},
            auth=("admin", network.admin_password),
        )
    response.raise_for_status()


async def set_active(network: LocalNetwork, account: Account, *, active: bool) -> None:
    """The account deactivates itself, or comes back (``com.atproto.server.*Account``)."""
    method = "activateAccount" if active else "deactivateAccount"
    body: dict[str, Any] | None = None if active else {}  # activateAccount takes no input
    response = await _call(
        network, "POST", f"com.atproto.server.{method}", account=account, body=body
    )
    response.raise_for_status()
