"""What relay last verified of each artist's repo — its signed ``rev`` and tree root — so a
commit's ``prevData`` can be checked against it (sync v1.1, as the reference relay and Tap do).

Inversion proves a commit's ops lead from ``prevData`` to the signed tree, but ``prevData`` is in
the unsigned envelope: a stream that withholds a whole commit, or leaves out an op and rewrites
``prevData`` to match, still passes it. The chain catches both: the next commit's ``prevData``
is not the root relay verified last, and the repo is read again (backfill). Commits of repos
relay indexes tracks of are all verified for this — other repos' commits stay on the fast path.
A commit at or below the last verified rev is a replay (after a reconnect) and checks nothing.
Bounded (LRU). The firehose stores each repo's last link with its cursor (``repo_chains``) and
reads it back for a repo not seen since the process started, so a restart breaks no chain.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Link:
    rev: str
    data: bytes  # the signed MST root


class RepoChain:
    def __init__(self, *, max_repos: int = 200_000) -> None:
        self._max = max_repos
        self._links: OrderedDict[str, Link] = OrderedDict()

    def __len__(self) -> int:
        return len(self._links)

    def last(self, did: str) -> Link | None:
        return self._links.get(did)

    def follows(self, did: str, rev: str, prev_data: bytes | None) -> bool | None:
        """Whether a verified commit at ``rev`` continues the chain: True, False (a commit was
        missed or rewritten), or None when there is nothing to check (no earlier link, no
        ``prevData``, or a replay of a commit at or below the last rev)."""
        last = self._links.get(did)
        if last is None or prev_data is None or rev <= last.rev:
            return None
        return prev_data == last.data

    def advance(self, did: str, rev: str, data: bytes) -> None:
        """Note a verified commit; replays of older ones leave the chain where it is."""
        last = self._links.get(did)
        if last is not None and rev <= last.rev:
            return
        self._links[did] = Link(rev, data)
        self._links.move_to_end(did)
        while len(self._links) > self._max:
            self._links.popitem(last=False)

    def stale(self, did: str, rev: str | None) -> bool:
        """Whether a ``#sync`` at ``rev`` describes a state older than one already verified."""
        last = self._links.get(did)
        return last is not None and rev is not None and rev <= last.rev
