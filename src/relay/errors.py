"""The one error tree of relay.

Every error relay raises on purpose is a ``RelayError``; at the GraphQL edge each class maps to a
stable ``extensions.code``. Anything else is unexpected: it is logged and masked as ``INTERNAL``.
Errors carry context as attributes (``.uri``, ``.did``, ``.path``, ``.variable``, ``.reason``).

    RelayError                         code
    ├── UnauthenticatedError           UNAUTHENTICATED   no or unknown session; PDS refused tokens
    │   └── OAuthError                                   the authorization server refused (.error)
    ├── ForbiddenError                 FORBIDDEN         the viewer is not the track's owner
    │   └── InsufficientScopeError                       the grant lacks the collection's scope
    ├── NotFoundError                  NOT_FOUND         .uri / .id names nothing in the index
    ├── PersistedQueryNotFoundError    PERSISTED_QUERY_NOT_FOUND  a hash relay holds no document of
    ├── BadUserInputError              BAD_USER_INPUT    invalid arguments
    │   ├── InvalidAudioError                            not audio, corrupt, empty, unsupported
    │   ├── RecordValidationError                        a record fails its lexicon (.nsid, .path)
    │   └── IdentityError                                handle/DID does not resolve (.identifier)
    ├── PayloadTooLargeError           PAYLOAD_TOO_LARGE the upload exceeds the limit (.limit)
    ├── ConflictError                  CONFLICT          swapRecord mismatch, state conflicts
    ├── RateLimitedError               RATE_LIMITED      too many requests (.rule, .retry_after)
    ├── UpstreamError                  UPSTREAM_UNAVAILABLE  PDS, storage or resolver failing
    │   ├── PdsUnavailableError                          the PDS failed or is unreachable (.did)
    │   ├── StorageUnavailableError                      the audio store failed
    │   │   └── AudioRemovedError                        the object is being collected (.file_id)
    │   └── RepoUnavailableError                         a repo or host could not be read
    ├── CommitError                    INTERNAL          a firehose commit failed a check (.reason)
    ├── SecretBoxError                 INTERNAL          a sealed value does not open with the key
    ├── LexiconError                   INTERNAL          a lexicon file relay cannot use
    ├── SandboxError                   INTERNAL          the local PLC/PDS sandbox failed to run
    └── ConfigurationError             (start-up only)   bad settings (.variable)
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    CONFLICT = "CONFLICT"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class RelayError(Exception):
    """Base of every error relay raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        """What GraphQL puts in ``extensions`` (graphql-core copies it from the original error)."""
        return {"code": self.code.value}


class UnauthenticatedError(RelayError):
    code = ErrorCode.UNAUTHENTICATED


class OAuthError(UnauthenticatedError):
    """The authorization server refused (``.error`` is its OAuth error code)."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error


class ForbiddenError(RelayError):
    code = ErrorCode.FORBIDDEN


class InsufficientScopeError(ForbiddenError):
    """The session's grant does not allow this write (re-authorize with the right scope)."""


class NotFoundError(RelayError):
    code = ErrorCode.NOT_FOUND


class PersistedQueryNotFoundError(RelayError):
    """An automatic persisted query's hash relay holds no document for (the client then sends
    the document with it; message and code as Apollo clients expect)."""

    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class BadUserInputError(RelayError):
    code = ErrorCode.BAD_USER_INPUT


class InvalidAudioError(BadUserInputError):
    """The uploaded bytes are not a supported, readable audio file."""


class RecordValidationError(BadUserInputError):
    """A record does not satisfy its lexicon; ``path`` names the offending field."""

    def __init__(self, message: str, *, nsid: str, path: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.nsid = nsid
        self.path = path


class IdentityError(BadUserInputError):
    """A handle or DID could not be resolved to an atproto identity."""

    def __init__(self, message: str, *, identifier: str) -> None:
        super().__init__(message)
        self.identifier = identifier


class PayloadTooLargeError(RelayError):
    code = ErrorCode.PAYLOAD_TOO_LARGE

    def __init__(self, limit: int, *, what: str = "the upload") -> None:
        super().__init__(f"{what} exceeds the limit of {limit} bytes")
        self.limit = limit


class ConflictError(RelayError):
    code = ErrorCode.CONFLICT


class RateLimitedError(RelayError):
    """A rate limit is full; ``retry_after`` seconds until it lets the caller in again."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, rule: str, retry_after: int) -> None:
        super().__init__(f"too many requests ({rule}); try again in {retry_after} s")
        self.rule = rule
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, str]:
        return {**super().extensions, "retryAfter": str(self.retry_after)}


class UpstreamError(RelayError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class PdsUnavailableError(UpstreamError):
    """The PDS could not be reached or answered with a server error."""

    def __init__(self, message: str, *, did: str | None = None) -> None:
        super().__init__(message)
        self.did = did


class StorageUnavailableError(UpstreamError):
    """The audio store failed."""


class AudioRemovedError(StorageUnavailableError):
    """A row was about to reference an audio object the collector is removing."""

    def __init__(self, file_id: str) -> None:
        super().__init__("the stored audio is being removed; upload again")
        self.file_id = file_id


class RepoUnavailableError(UpstreamError):
    """A repo or host could not be read (unreachable, 5xx, garbage)."""


class CommitError(RelayError):
    """A commit from the network failed a check; ``reason`` is the drop counter's label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SecretBoxError(RelayError):
    """Ciphertext could not be opened (wrong key or tampered data)."""


class LexiconError(RelayError):
    """A lexicon document uses something relay's validator does not support, or is missing."""


class SandboxError(RelayError):
    """The local PLC directory or PDS (``relay dev``, tests) could not be installed or run."""


class ConfigurationError(RelayError):
    """Settings are invalid; raised at start-up and names the variable."""

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
