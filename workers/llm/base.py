"""The LLM backend interface: one request in, one completion out; errors from shared.errors only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class CompletionRequest:
    """A chat request that must answer with JSON matching `schema`."""

    model: str
    system: str
    user: str
    schema: dict[str, Any]
    context_tokens: int
    max_tokens: int = 1024
    temperature: float = 0.0
    keep_alive: str = "30m"


@dataclass(frozen=True)
class Completion:
    """What a server answered, with its own token counts."""

    content: str
    tokens_in: int
    tokens_out: int
    stop_reason: str
    host: str
    server_ms: int | None = None
    """The server's own time for the request where it reports one (Ollama's total_duration): excludes
    time spent queued for a slot, so GPU-second pricing charges only the model's work."""


class LLMBackend(Protocol):
    """Sends one chat request to one host."""

    host: str

    def complete(self, request: CompletionRequest) -> Completion:
        """The server's completion; raises RetryableError, EscalateError or BackendRejectedError subclasses."""
        ...
