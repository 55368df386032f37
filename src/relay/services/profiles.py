"""Artists' profiles (``app.bsky.actor.profile``, indexed for repos relay indexes): the name and
description to show, and their avatars — fetched by relay from the artist's own PDS (the one
their DID document names, ``sync.getBlob``), checked against the CID the signed record names,
bounded, and kept in memory. relay never fetches a URL a record or a client supplies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from relay.atproto.repos import RepoClient
from relay.db.profile_index import ProfileIndex
from relay.errors import NotFoundError, RepoUnavailableError
from relay.lru import BoundedLru

log = logging.getLogger(__name__)

MAX_AVATAR_BYTES = 1_000_000  # the lexicon's maxSize
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class ProfileView:
    did: str
    display_name: str | None
    description: str | None
    avatar_url: str | None


@dataclass(frozen=True)
class Avatar:
    data: bytes
    content_type: str


def _sniffed(data: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)


class Profiles:
    def __init__(
        self,
        *,
        profiles: ProfileIndex,
        repos: RepoClient,
        public_url: str,
        cache_bytes: int = 32 * 2**20,
    ) -> None:
        self._profiles = profiles
        self._repos = repos
        self._base = public_url.rstrip("/")
        self._cache: BoundedLru[str, Avatar] = BoundedLru(entries=1024, total=cache_bytes)

    async def get_many(self, dids: Sequence[str]) -> dict[str, ProfileView]:
        found = await self._profiles.get_many(dids)
        return {
            did: ProfileView(
                did=did,
                display_name=p.display_name,
                description=p.description,
                avatar_url=(
                    f"{self._base}/avatars/{did}/{p.avatar_cid}"
                    if p.avatar_cid and p.pds_url
                    else None
                ),
            )
            for did, p in found.items()
        }

    async def avatar(self, did: str, cid: str) -> Avatar:
        """The avatar ``did``'s indexed profile names by ``cid`` (``NotFoundError`` for any
        other); ``RepoUnavailableError`` when their PDS does not give it as named."""
        key = f"{did} {cid}"
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        profile = (await self._profiles.get_many([did])).get(did)
        if profile is None or profile.avatar_cid != cid or profile.pds_url is None:
            raise NotFoundError("no such avatar")
        data = await self._repos.get_blob(profile.pds_url, did, cid, max_bytes=MAX_AVATAR_BYTES)
        kind = _sniffed(data)
        if kind is None:
            log.warning("the avatar %s of %s is not a PNG or JPEG", cid, did)
            raise RepoUnavailableError("the avatar is not an image relay shows")
        avatar = Avatar(data, kind)
        self._cache.put(key, avatar, len(data))
        return avatar
