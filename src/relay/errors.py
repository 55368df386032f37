"""The one error tree of relay.

Every error a service raises on purpose is a ``RelayError``; at the GraphQL edge each class maps to
a stable ``extensions.code``. Anything else is unexpected: it is logged and masked as ``INTERNAL``.

    RelayError                         code
    ├── UnauthenticatedError           UNAUTHENTICATED   no or unknown session; PDS refused tokens
    ├── ForbiddenError                 FORBIDDEN         the viewer is not the track's owner
    ├── NotFoundError                  NOT_FOUND         .uri / .id names nothing in the index
    ├── BadUserInputError              BAD_USER_INPUT    invalid arguments
    │   ├── InvalidAudioError                            not audio, corrupt, empty, unsupported
    │   ├── RecordValidationError                        a record fails its lexicon (.path)
    │   └── IdentityError                                handle/DID does not resolve (.identifier)
    ├── PayloadTooLargeError           PAYLOAD_TOO_LARGE the upload exceeds the limit (.limit)
    ├── ConflictError                  CONFLICT          swapRecord mismatch, state conflicts
    ├── UpstreamError                  UPSTREAM_UNAVAILABLE  PDS, storage or resolver failing
    │   ├── PdsUnavailableError                          the PDS failed or is unreachable (.did)
    │   └── StorageUnavailableError                      the audio store failed
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
    INTERNAL = "INTERNAL"


class RelayError(Exception):
    """Base of every error relay raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnauthenticatedError(RelayError):
    code = ErrorCode.UNAUTHENTICATED


class ForbiddenError(RelayError):
    code = ErrorCode.FORBIDDEN


class NotFoundError(RelayError):
    code = ErrorCode.NOT_FOUND


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

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload exceeds the limit of {limit} bytes")
        self.limit = limit


class ConflictError(RelayError):
    code = ErrorCode.CONFLICT


class UpstreamError(RelayError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class PdsUnavailableError(UpstreamError):
    """The PDS could not be reached or answered with a server error."""

    def __init__(self, message: str, *, did: str | None = None) -> None:
        super().__init__(message)
        self.did = did


class StorageUnavailableError(UpstreamError):
    """The audio store failed."""


class ConfigurationError(RelayError):
    """Settings are invalid; raised at start-up and names the variable."""

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
