"""Commits that touch indexed records (tracks, likes), turned into index changes only when the
signed commit proves them.

A commit is trusted when its signature verifies against the repo's signing key (its DID
document; a rotated key is fetched once more) and it names its own repo. Its ops come from the
unsigned envelope, so each is checked against the signed tree: a create or update counts only
when the MST rooted at the commit's ``data`` holds that key with that record CID, a delete only
when the MST proves the key absent — from the event's own blocks, each read against its CID. The
signed ``rev`` is used, never the envelope's. What cannot be proven schedules a backfill of the
repo, which reads it from the source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import libipld

from relay.atproto.car import VerifiedBlocks
from relay.atproto.commits import block, mst_lookup, signed_state, verify_commit
from relay.atproto.identity import Identity
from relay.atproto.inversion import check_inversion
from relay.atproto.stream import Commit, Op
from relay.db.sync import ChainLink, Change, RecordDelete
from relay.errors import CommitError
from relay.services.backfill import BackfillRequest
from relay.services.identity_cache import IdentityCache
from relay.services.ingest import ALONGSIDE_PREFIXES, INDEXED_PREFIXES, RecordIngest
from relay.services.repo_chain import RepoChain

log = logging.getLogger(__name__)

# The atproto record key grammar.
_RKEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}\Z")

Schedule = Callable[[BackfillRequest], object]
StoredLink = Callable[[str], Awaitable[ChainLink | None]]


class TrackCommits:
    def __init__(
        self,
        identities: IdentityCache,
        ingest: RecordIngest,
        schedule_backfill: Schedule,
        chain: RepoChain | None = None,
        stored_link: StoredLink | None = None,
    ) -> None:
        self._stored_link = stored_link
        self._identities = identities
        self._ingest = ingest
        self._schedule_backfill = schedule_backfill
        self.chain = chain or RepoChain()

    async def changes(self, commit: Commit, *, artist: bool = False) -> list[Change]:
        """The proven changes of a ``#commit`` event; raises ``CommitError`` (after scheduling a
        backfill of the repo) when it cannot be proven. Commits of other collections are passed
        over unread — unless ``artist`` (a repo relay indexes records of), whose every commit is
        verified to keep its chain (``RepoChain``)."""
        ops = [
            op
            for op in commit.ops
            if op.path.startswith(INDEXED_PREFIXES)
            or (artist and op.path.startswith(ALONGSIDE_PREFIXES))  # e.g. an artist's profile
        ]
        if not ops and not artist:
            return []  # other collections: no signature check, no decoding
        if commit.too_big:
            self._schedule_backfill(BackfillRequest(dids=(commit.repo,)))
            return []
        blocks = VerifiedBlocks.from_car(commit.blocks)
        signed = block(blocks, commit.commit)
        identity = await self._identities.get(commit.repo)
        try:
            verify_commit(signed, repo=commit.repo, signing_key=identity.signing_key)
        except CommitError as exc:
            if exc.reason != "bad_signature":
                raise
            # The key may have rotated: check once more against a fresh DID document.
            identity = await self._identities.get(commit.repo, refresh=True)
            verify_commit(signed, repo=commit.repo, signing_key=identity.signing_key)
        try:
            data, rev = signed_state(signed, commit.repo)
            if commit.prev_data is not None:
                # Sync v1.1: the listed ops are all the commit changed — none left out.
                check_inversion(blocks, data, commit.prev_data, commit.ops)
            changes = self._proven_changes(commit.repo, ops, blocks, data, rev, identity)
        except CommitError:
            # The envelope says something the signed tree does not: read the repo itself.
            self._schedule_backfill(BackfillRequest(dids=(commit.repo,)))
            raise
        if self._stored_link is not None and self.chain.last(commit.repo) is None:
            # Not seen since this process started: continue the chain stored with the cursor.
            stored = await self._stored_link(commit.repo)
            if stored is not None:
                self.chain.advance(commit.repo, stored.rev, stored.data)
        if self.chain.follows(commit.repo, rev, commit.prev_data) is False:
            # A commit was withheld, or an op left out with prevData rewritten to match.
            log.warning("firehose: %s skipped from its last verified commit; reading it again",
                        commit.repo)  # fmt: skip
            self._ingest.stats.gaps += 1
            self._schedule_backfill(BackfillRequest(dids=(commit.repo,)))
        self.chain.advance(commit.repo, rev, data)
        return changes

    def _proven_changes(
        self,
        repo: str,
        ops: list[Op],
        blocks: VerifiedBlocks,
        data: bytes,
        rev: str,
        identity: Identity,
    ) -> list[Change]:
        """The event's ops on indexed collections, each proven by the signed commit's tree: a
        create or update only when the tree holds that key with that record CID, a delete only
        when the tree proves the key gone. The rev is the signed one; the envelope's is not
        trusted."""
        changes: list[Change] = []
        for op in ops:
            collection, rkey = op.path.split("/", 1)
            if not _RKEY.match(rkey) or rkey in (".", ".."):
                raise CommitError("bad_rkey", f"{op.path!r:.600} is not a record path")
            uri = f"at://{repo}/{op.path}"
            proven = mst_lookup(blocks, data, op.path)
            if op.action == "delete":
                if proven is not None:
                    raise CommitError("unproven", f"delete of {uri}, which the signed tree holds")
                changes.append(RecordDelete(uri, rev=rev))
                continue
            if op.cid is None or proven != op.cid:
                raise CommitError("unproven", f"{op.action} of {uri} is not in the signed tree")
            change = self._ingest.upsert(
                did=repo, rkey=rkey, cid=libipld.encode_cid(proven), rev=rev,
                value=block(blocks, proven), handle=identity.handle, collection=collection,
                pds_url=identity.pds_url,
            )  # fmt: skip
            if change is not None:
                changes.append(change)
        return changes
