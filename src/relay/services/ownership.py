"""The checks every track change starts and ends with: the track exists, the viewer owns it, one
process changes it at a time (its lease), and it is still there after the write."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from relay.atproto.pds import RecordRef
from relay.clock import Clock
from relay.db.models import TrackRow
from relay.db.tracks import Lease, TrackIndex
from relay.errors import ForbiddenError, NotFoundError
from relay.services.sessions import Viewer


def written(ref: RecordRef) -> dict[str, Any]:
    """What a PDS write sets on its track's row: the record's CID, and the revision of the commit
    when the PDS gave it — so the firehose's late echo of an older commit (an older revision)
    cannot undo the write."""
    return {"cid": ref.cid} if ref.rev is None else {"cid": ref.cid, "rev": ref.rev}


async def owned_track(index: TrackIndex, viewer: Viewer, uri: str) -> TrackRow:
    row = await index.get_by_uri(uri)
    if row is None or row.delete_requested_at is not None:
        raise NotFoundError(f"no track {uri}")
    if row.artist_did != viewer.did:
        raise ForbiddenError("only the track's owner may change it")
    return row


def still_there(updated: TrackRow | None, row: TrackRow) -> TrackRow:
    """The row an index update returned; None means the track was deleted meanwhile."""
    if updated is None:
        raise NotFoundError(f"track {row.uri} was deleted meanwhile")
    return updated


class TrackLeases:
    """Makes leases: a fresh token, valid for ``seconds`` — longer than any PDS write may take, so
    a lease lapses only when its holder died."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._duration = timedelta(seconds=seconds)

    def new(self) -> Lease:
        now = self._clock.now()
        return Lease(token=secrets.token_hex(16), now=now, until=now + self._duration)
