"""The one error tree of ragfleet.

    RagfleetError
    ├── ConfigurationError          bad or missing settings, found at start-up
    ├── RetryableError              try again later, maybe elsewhere
    │   ├── BackendUnavailableError     a model/embedding server timed out, refused, or answered 5xx
    │   │   └── BackendUnreachableError     ... gave no answer at all (refused, dropped, timed out)
    │   ├── RateLimitedError            a server said 429/503, with retry_after_s
    │   ├── StorageUnavailableError     the broker or the database cannot be reached
    │   └── SourceUnreachableError      a git host cannot be reached, or does not answer in time
    ├── EscalateError               a stronger tier may succeed where this one failed
    │   ├── InvalidOutputError          not JSON, schema failure, contradicts the code's facts, cut by length
    │   └── ContextTooLongError         the input does not fit this tier's context window
    └── PermanentError              retrying cannot help
        ├── BadInputError               the input itself is wrong (path, encoding, record, message)
        ├── NotFoundError               the thing named does not exist (a repo, a git URL, a ref)
        ├── AuthenticationError         a source refused our credentials, or wants some we do not have
        └── BackendRejectedError        a model server refused the request itself (400/401/404)

Library exceptions are translated at the boundary (`raise ... from exc`), so
callers handle these classes only.
"""

from __future__ import annotations


class RagfleetError(Exception):
    """Root of every error ragfleet raises on purpose."""


class ConfigurationError(RagfleetError):
    """Raised at start-up when settings are missing, malformed or contradictory."""


class RetryableError(RagfleetError):
    """Raised when the same request may succeed later or on another host."""


class BackendUnavailableError(RetryableError):
    """Raised when a model or embedding server times out, refuses, or answers 5xx."""


class BackendUnreachableError(BackendUnavailableError):
    """Raised when a server gives no answer at all (connection refused or dropped, timed out): no input is to blame."""


class RateLimitedError(RetryableError):
    """Raised when a server asks us to slow down (429/503); honour `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageUnavailableError(RetryableError):
    """Raised when the broker or the database cannot be reached."""


class SourceUnreachableError(RetryableError):
    """Raised when a git host cannot be reached (DNS, refused, timed out) or a clone does not finish in time."""


class EscalateError(RagfleetError):
    """Raised when a stronger tier may succeed where this one failed."""


class InvalidOutputError(EscalateError):
    """Raised when model output is not JSON, fails the schema, is cut short, or contradicts the code."""


class ContextTooLongError(EscalateError):
    """Raised when a span does not fit a tier's context window (or was silently truncated)."""


class PermanentError(RagfleetError):
    """Raised when retrying cannot help."""


class BadInputError(PermanentError):
    """Raised when an input (path, file, record, message) is malformed; the message names it."""


class NotFoundError(PermanentError):
    """Raised when a named repository, path or row does not exist."""


class AuthenticationError(PermanentError):
    """Raised when a git host refuses our credentials, or asks for some we do not have."""


class BackendRejectedError(PermanentError):
    """Raised when a model server refuses the request itself (400/401/404): fix the configuration, don't retry."""
