"""What the API layer may call: every service, built once by the assembly."""

from __future__ import annotations

from dataclasses import dataclass

from relay.services.events import EventBus
from relay.services.likes import Likes
from relay.services.lists import Lists
from relay.services.profiles import Profiles
from relay.services.publishing import Publishing
from relay.services.rate_limits import RateLimiter
from relay.services.sessions import SessionService
from relay.services.sync import SyncCoordinator
from relay.services.track_edits import TrackEdits
from relay.services.track_reads import TrackReads
from relay.services.track_uploads import TrackUploads


@dataclass(frozen=True)
class InstanceInfo:
    """What a client needs to know about this relay before it signs anyone in."""

    max_upload_bytes: int
    demo_handle: str | None = None
    demo_password: str | None = None


@dataclass(frozen=True)
class Services:
    reads: TrackReads
    uploads: TrackUploads
    publishing: Publishing
    edits: TrackEdits
    likes: Likes
    lists: Lists
    profiles: Profiles
    sessions: SessionService
    sync: SyncCoordinator
    events: EventBus
    limits: RateLimiter
    admins: frozenset[str]
    playable_hosts: frozenset[str]
    instance: InstanceInfo
