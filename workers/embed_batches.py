"""Group texts into model calls by count and token budget; bisect a failing call down to the one bad item.

Used by the span embed stage and the backlog's document embedding alike: items are anything with
a `.text`, and each comes back either with its vector or with the reason it was rejected, in the
order given. Nothing is dropped silently.

Which failures are blamed on a text (and bisected): any error from a call that got an answer — an
HTTP 4xx/5xx, a malformed or short reply, a model's ValueError/RuntimeError (CUDA out of memory on a
big batch included). A NaN, infinite or wrong-length row rejects only its own item. Which are not
(and propagate, so the caller retries the whole batch later): no answer at all (the server is
unreachable or timed out), rate limiting, configuration and storage errors. And when every call of a
bisection failed with a retryable error and none succeeded, the server is down rather than the texts
bad: the first such error propagates, instead of rejecting every item.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np

from shared.embedders import Embedder
from shared.errors import (
    BackendUnreachableError,
    ConfigurationError,
    RagfleetError,
    RateLimitedError,
    RetryableError,
    StorageUnavailableError,
)
from workers.chunking.parts import CHARS_PER_TOKEN

log = logging.getLogger(__name__)

# Errors that say nothing about the texts: no text is rejected for them.
NOT_THE_TEXTS = (BackendUnreachableError, RateLimitedError, ConfigurationError, StorageUnavailableError)


class HasText(Protocol):
    """Anything to embed: a span message, a backlog record."""

    @property
    def text(self) -> str: ...


T = TypeVar("T", bound=HasText)


def estimate_tokens(text: str) -> int:
    """≈ 4 characters per token, the estimate the chunker and the router use (at least 1 per text)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def plan_batches(token_counts: Sequence[int], *, batch_size: int, max_batch_tokens: int) -> list[range]:
    """Consecutive index ranges of at most `batch_size` items and `max_batch_tokens` estimated tokens.

    An item over the token budget on its own gets a call of its own (the model truncates it) rather
    than being refused here.
    """
    if batch_size < 1 or max_batch_tokens < 1:
        raise ValueError(f"need batch_size >= 1 and max_batch_tokens >= 1, got {batch_size}, {max_batch_tokens}")
    batches: list[range] = []
    start, tokens = 0, 0
    for i, count in enumerate(token_counts):
        if i > start and (i - start >= batch_size or tokens + count > max_batch_tokens):
            batches.append(range(start, i))
            start, tokens = i, 0
        tokens += count
    if start < len(token_counts):
        batches.append(range(start, len(token_counts)))
    return batches


def embed_in_batches(
    embedder: Embedder, items: Sequence[T], *, batch_size: int, max_batch_tokens: int
) -> tuple[list[tuple[T, np.ndarray]], list[tuple[T, str]]]:
    """(item, float32 vector) for every item embedded and (item, reason) for every item rejected, in input order."""
    embedded: list[tuple[T, np.ndarray]] = []
    rejected: list[tuple[T, str]] = []
    plan = plan_batches([estimate_tokens(item.text) for item in items], batch_size=batch_size,
                        max_batch_tokens=max_batch_tokens)  # fmt: skip
    for batch in plan:
        good, bad = _embed_bisecting(embedder, [items[i] for i in batch])
        embedded += good
        rejected += bad
    return embedded, rejected


def _embed_bisecting(embedder: Embedder, items: list[T]) -> tuple[list[tuple[T, np.ndarray]], list[tuple[T, str]]]:
    results: list[np.ndarray | str | None] = [None] * len(items)
    retryable: list[RetryableError] = []
    _fill(embedder, items, 0, results, retryable)
    if retryable and all(not isinstance(r, np.ndarray) for r in results):
        # Every call failed and the server blamed itself: it is down, not every text bad.
        raise retryable[0]
    good = [(item, r) for item, r in zip(items, results, strict=True) if isinstance(r, np.ndarray)]
    bad = [(item, r) for item, r in zip(items, results, strict=True) if isinstance(r, str)]
    return good, bad


def _fill(
    embedder: Embedder,
    items: list[T],
    offset: int,
    results: list[np.ndarray | str | None],
    retryable: list[RetryableError],
) -> None:
    """Embed items[offset:offset+len] into results, splitting the call in two while it fails."""
    try:
        vectors = _call(embedder, [item.text for item in items])
    except NOT_THE_TEXTS:
        raise
    except (RagfleetError, ValueError, RuntimeError) as exc:
        if isinstance(exc, RetryableError):
            retryable.append(exc)
        if len(items) == 1:
            results[offset] = f"{type(exc).__name__}: {exc}"
            return
        log.warning("embedding a batch of %d failed (%s: %s); bisecting", len(items), type(exc).__name__, exc)
        half = len(items) // 2
        _fill(embedder, items[:half], offset, results, retryable)
        _fill(embedder, items[half:], offset + half, results, retryable)
        return
    for i, row in enumerate(vectors):
        results[offset + i] = row if np.isfinite(row).all() else "embedder returned NaN or infinite values"


def _call(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """One model call; ValueError when the answer is not one `dim`-long row per text."""
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    if vectors.shape != (len(texts), embedder.dim):
        raise ValueError(f"embedder returned shape {vectors.shape}, expected ({len(texts)}, {embedder.dim})")
    return vectors
