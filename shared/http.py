"""httpx errors and HTTP statuses mapped to ragfleet's error tree, in one place (LLM backends and embedders)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from shared.errors import (
    BackendRejectedError,
    BackendUnavailableError,
    ContextTooLongError,
    InvalidOutputError,
    RateLimitedError,
)
from shared.redact import redact_url

CONTEXT_MARKERS = ("context length", "context_length", "too long", "maximum context")


def client(*, connect_timeout_s: float = 5.0, read_timeout_s: float = 300.0, pool_size: int = 16) -> httpx.Client:
    """A pooled client with explicit timeouts (a hung server must not hold a worker thread forever)."""
    return httpx.Client(
        timeout=httpx.Timeout(read_timeout_s, connect=connect_timeout_s),
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
    )


@contextmanager
def translated(host: str) -> Iterator[None]:
    """Turn transport failures into BackendUnavailableError naming the (redacted) host."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise BackendUnavailableError(f"{redact_url(host)}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise BackendUnavailableError(f"{redact_url(host)}: {type(exc).__name__}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise BackendRejectedError(f"{redact_url(host)}: malformed endpoint URL ({exc})") from exc


def check_status(response: httpx.Response, host: str) -> None:
    """Raise the error class that decides the action for a non-2xx answer."""
    status = response.status_code
    if status < 400:
        return
    message = f"{redact_url(host)}: HTTP {status}: {_server_message(response)}"
    if status in (429, 503):
        raise RateLimitedError(message, retry_after_s=_retry_after(response))
    if status >= 500:
        if any(marker in message.lower() for marker in CONTEXT_MARKERS):
            raise ContextTooLongError(message)
        raise BackendUnavailableError(message)
    if status == 400 and any(marker in message.lower() for marker in CONTEXT_MARKERS):
        raise ContextTooLongError(message)
    raise BackendRejectedError(message)


def json_body(response: httpx.Response, host: str) -> dict[str, Any]:
    """The response's JSON object; InvalidOutputError when the server sent something else."""
    try:
        body = response.json()
    except ValueError as exc:
        raise InvalidOutputError(
            f"{redact_url(host)}: response body is not JSON ({len(response.content)} bytes)"
        ) from exc
    if not isinstance(body, dict):
        raise InvalidOutputError(f"{redact_url(host)}: response body is not a JSON object")
    return body


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error or body)[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
