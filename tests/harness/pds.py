"""Direct access to the sandbox PDS, as another client of the network would have."""

from __future__ import annotations

from typing import Any

import httpx

from relay.sandbox import Account, LocalNetwork


def get_record(network: LocalNetwork, uri: str) -> dict[str, Any] | None:
    """The record at ``uri`` on the PDS (None if absent)."""
    did, collection, rkey = uri.removeprefix("at://").split("/")
    response = httpx.get(
        f"{network.pds_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": collection, "rkey": rkey},
        timeout=10,
    )
    if response.status_code == 400 and "RecordNotFound" in response.text:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def session(network: LocalNetwork, account: Account) -> str:
    response = httpx.post(
        f"{network.pds_url}/xrpc/com.atproto.server.createSession",
        json={"identifier": account.handle, "password": account.password},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["accessJwt"]
    return token


def put_record(
    network: LocalNetwork, account: Account, uri: str, record: dict[str, Any]
) -> dict[str, Any]:
    """Rewrite a record behind relay's back (another client editing the same repo)."""
    did, collection, rkey = uri.removeprefix("at://").split("/")
    response = httpx.post(
        f"{network.pds_url}/xrpc/com.atproto.repo.putRecord",
        json={"repo": did, "collection": collection, "rkey": rkey, "record": record},
        headers={"Authorization": f"Bearer {session(network, account)}"},
        timeout=10,
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


def create_record(
    network: LocalNetwork, account: Account, record: dict[str, object], rkey: str | None = None
) -> dict[str, Any]:
    """Write a record as another client of the network would (relay never sees the request)."""
    body: dict[str, Any] = {"repo": account.did, "collection": "app.relay.track", "record": record}
    if rkey is not None:
        body["rkey"] = rkey
    response = httpx.post(
        f"{network.pds_url}/xrpc/com.atproto.repo.createRecord",
        json=body,
        headers={"Authorization": f"Bearer {session(network, account)}"},
        timeout=10,
    )
    response.raise_for_status()
    out: dict[str, Any] = response.json()
    return out


def delete_record(network: LocalNetwork, account: Account, uri: str) -> None:
    did, collection, rkey = uri.removeprefix("at://").split("/")
    response = httpx.post(
        f"{network.pds_url}/xrpc/com.atproto.repo.deleteRecord",
        json={"repo": did, "collection": collection, "rkey": rkey},
        headers={"Authorization": f"Bearer {session(network, account)}"},
        timeout=10,
    )
    response.raise_for_status()


def account_call(
    network: LocalNetwork, account: Account, nsid: str, body: dict[str, Any] | None = None
) -> None:
    """An authenticated procedure on the account itself (deactivate, activate, updateHandle);
    ``body=None`` sends no body, for procedures that take no input."""
    response = httpx.post(
        f"{network.pds_url}/xrpc/{nsid}",
        json=body,
        headers={"Authorization": f"Bearer {session(network, account)}"},
        timeout=10,
    )
    response.raise_for_status()
