"""Enrichment on one LLM tier, and what to do when it fails.

Failure → action (each attempt recorded and carried in the span message's history):
- timeout, connection error, 5xx → jittered backoff and one more try, then the tier's next host;
- 429 / 503 → that host cools down for Retry-After (shared through Redis), next host; when every
  host is cooling, wait for the earliest one (up to `MAX_COOLDOWN_WAIT_S`);
- invalid JSON, schema or fact failure, `length` stop → escalate to the next configured tier;
- context too long (an error, or Ollama's silent truncation) → the next tier with a larger context;
- 400 / 401 / 404 → no retry: dead letter with the server's message;
- a tier whose hosts all failed → escalate; nothing stronger left → dead letter with the whole history.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.errors import (
    BackendRejectedError,
    ContextTooLongError,
    EscalateError,
    RateLimitedError,
    RetryableError,
)
from shared.messages import Attempt, Enrichment, SpanMessage, StaticFacts
from shared.names import TIERS
from shared.redact import redact_text, redact_url
from shared.settings import TiersSettings
from workers.cooldown import Cooldowns
from workers.host_load import HostLoad
from workers.llm import CompletionRequest, LLMBackend
from workers.llm.prompt import build_request, estimate_tokens
from workers.llm.validate import validate_completion
from workers.shutdown import HandBack

TRIES_PER_HOST = 2
DEFAULT_COOLDOWN_S = 10.0
MAX_COOLDOWN_WAIT_S = 60.0


@dataclass(frozen=True)
class Enriched:
    """The tier answered well."""

    enrichment: Enrichment
    host: str
    tokens_in: int
    tokens_out: int
    duration_ms: int
    cost_usd: float


@dataclass(frozen=True)
class Escalate:
    """A stronger tier should try (`to` is None when there is none: dead-letter)."""

    to: str | None
    error_class: str
    reason: str


@dataclass(frozen=True)
class Rejected:
    """The server refused the request itself: retrying anywhere cannot help."""

    error_class: str
    reason: str


@dataclass
class TierRun:
    """Everything one enrichment on one tier needs, with its growing attempt history."""

    msg: SpanMessage
    facts: StaticFacts
    tiers: TiersSettings
    backend_for: Callable[[str], LLMBackend]
    cooldowns: Cooldowns
    record: Callable[[Attempt], None]
    load: HostLoad = field(default_factory=HostLoad)
    sleep: Callable[[float], None] = time.sleep
    stopping: Callable[[], bool] = lambda: False
    """True once the worker is shutting down: no new call starts, the span is handed back (HandBack)."""
    attempts: list[Attempt] = field(default_factory=list)

    def run(self) -> Enriched | Escalate | Rejected:
        """Try the tier's hosts under the failure policy of this module."""
        tier = self.tiers.get(self.msg.tier)
        request = build_request(self.msg, self.facts, model=tier.model, context_tokens=tier.context_tokens)
        estimate = estimate_tokens(request)
        if estimate > tier.context_tokens:
            reason = f"~{estimate} prompt tokens exceed the {tier.context_tokens}-token context of tier {self.msg.tier}"
            self._attempt("", "ContextTooLongError", reason, 0)
            return Escalate(self._next_tier(needs_tokens=estimate), "ContextTooLongError", reason)
        hosts = self.load.least_loaded_first(_rotated(tier.endpoints, self.msg.content_hash))
        last_error = ("BackendUnavailableError", f"tier {self.msg.tier}: no host answered")
        for _ in range(1 + int(MAX_COOLDOWN_WAIT_S // DEFAULT_COOLDOWN_S)):
            for host in hosts:
                outcome = self._try_host(host, request, estimate)
                if isinstance(outcome, Enriched | Escalate | Rejected):
                    return outcome
                if outcome is not None:
                    last_error = outcome
            waits = [self.cooldowns.remaining_s(h) for h in hosts]
            if not waits or min(waits) <= 0 or min(waits) > MAX_COOLDOWN_WAIT_S:
                break
            self.sleep(min(waits))  # every host is cooling: wait for the earliest, rather than fail
        return Escalate(self._next_tier(), *last_error)

    def _try_host(
        self, host: str, request: CompletionRequest, estimate: int
    ) -> Enriched | Escalate | Rejected | tuple[str, str] | None:
        tier = self.tiers.get(self.msg.tier)
        backend = self.backend_for(host)
        error: tuple[str, str] | None = None
        for try_no in range(TRIES_PER_HOST):
            if self.stopping():
                raise HandBack(f"span {self.msg.content_hash} handed back: the worker is stopping")
            if self.cooldowns.remaining_s(host) > 0:
                return error
            started = time.monotonic()
            try:
                with self.load.calling(host):
                    completion = backend.complete(request)
                enrichment = validate_completion(completion, self.facts, estimated_tokens_in=estimate)
            except RateLimitedError as exc:
                self._attempt(host, type(exc).__name__, str(exc), _ms(started))
                self.cooldowns.cool(host, exc.retry_after_s or DEFAULT_COOLDOWN_S)
                return (type(exc).__name__, str(exc))
            except RetryableError as exc:
                self._attempt(host, type(exc).__name__, str(exc), _ms(started))
                error = (type(exc).__name__, str(exc))
                if try_no + 1 < TRIES_PER_HOST:
                    self.sleep(random.uniform(0.05, 0.5))
                continue
            except ContextTooLongError as exc:
                self._attempt(host, type(exc).__name__, str(exc), _ms(started))
                # Only a tier with a larger context than this one can help.
                bigger = max(estimate, tier.context_tokens)
                return Escalate(self._next_tier(needs_tokens=bigger), type(exc).__name__, str(exc))
            except EscalateError as exc:
                self._attempt(host, type(exc).__name__, str(exc), _ms(started))
                return Escalate(self._next_tier(), type(exc).__name__, str(exc))
            except BackendRejectedError as exc:
                self._attempt(host, type(exc).__name__, str(exc), _ms(started))
                return Rejected(type(exc).__name__, str(exc))
            duration_ms = _ms(started)
            self._attempt(host, "", "ok", duration_ms)
            cost = (
                completion.tokens_in * tier.price_in_per_mtok / 1e6
                + completion.tokens_out * tier.price_out_per_mtok / 1e6
                + (completion.server_ms if completion.server_ms is not None else duration_ms)
                / 1000
                * tier.price_per_gpu_s
            )
            return Enriched(
                enrichment, redact_url(host), completion.tokens_in, completion.tokens_out, duration_ms, cost
            )
        return error

    def _attempt(self, host: str, error_class: str, message: str, duration_ms: int) -> None:
        attempt = Attempt(
            tier=self.msg.tier,
            host=redact_url(host),  # rows and messages never hold an endpoint's credentials
            error_class=error_class,
            message=redact_text(message)[:1000],
            duration_ms=duration_ms,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.attempts.append(attempt)
        self.record(attempt)

    def _next_tier(self, *, needs_tokens: int = 0) -> str | None:
        """The next configured tier after this one (with a context above `needs_tokens` when given)."""
        for name in TIERS[TIERS.index(self.msg.tier) + 1 :]:
            candidate = self.tiers.get(name)
            if candidate.configured and candidate.context_tokens > needs_tokens:
                return name
        return None


def _rotated(hosts: list[str], key: str) -> list[str]:
    """The hosts starting at a place that depends on the span, so load spreads without coordination."""
    if not hosts:
        return []
    start = zlib.crc32(key.encode()) % len(hosts)
    return hosts[start:] + hosts[:start]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
