"""The embed stage: many span texts per model call, vectors upserted together."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.db.embeddings import EmbeddingRow, check_dimension, current_text_hashes, upsert_embeddings
from shared.embedders import Embedder
from shared.errors import BadInputError
from shared.hashing import content_hash
from shared.messages import EmbedMessage
from workers.context import WorkerContext

log = logging.getLogger(__name__)


@dataclass
class EmbedOutcome:
    """What one batch came to: stored, already current, and rejected messages with their reasons."""

    stored: int = 0
    unchanged: int = 0
    rejected: list[tuple[EmbedMessage, str]] = field(default_factory=list)


def embed_batch(messages: Sequence[EmbedMessage], ctx: WorkerContext) -> EmbedOutcome:
    """Embed every message whose text changed, in one model call (bisected if it fails)."""
    settings = ctx.settings
    embedder = ctx.embedder
    outcome = EmbedOutcome()
    # One message per content hash: the same code in two files is embedded once.
    by_hash = {m.content_hash: m for m in messages}
    with ctx.db.connection() as conn:
        check_dimension(conn, embedder.model, embedder.dim)
        current = current_text_hashes(conn, list(by_hash), embedder.model)
    todo = [m for h, m in by_hash.items() if current.get(h) != content_hash(m.text)]
    outcome.unchanged = len(messages) - len(todo)
    vectors, outcome.rejected = embed_bisecting(embedder, todo)
    rows = [
        EmbeddingRow(
            content_hash=m.content_hash,
            model=embedder.model,
            prompt_version=settings.prompt_version,
            text_hash=content_hash(m.text),
            vector=v,
        )
        for m, v in vectors
    ]
    if rows:
        with ctx.db.connection() as conn:
            upsert_embeddings(conn, rows)
    outcome.stored = len(rows)
    return outcome


def embed_bisecting(
    embedder: Embedder, messages: Sequence[EmbedMessage]
) -> tuple[list[tuple[EmbedMessage, np.ndarray]], list[tuple[EmbedMessage, str]]]:
    """Embed all messages; when a call fails, split the batch so one bad text cannot sink the rest."""
    if not messages:
        return [], []
    try:
        vectors = embedder.embed([m.text for m in messages])
        _check_vectors(vectors, len(messages), embedder.dim)
    except (BadInputError, ValueError, RuntimeError) as exc:
        if len(messages) == 1:
            return [], [(messages[0], f"{type(exc).__name__}: {exc}")]
        log.warning("embedding a batch of %d failed (%s); bisecting", len(messages), exc)
        half = len(messages) // 2
        good_a, bad_a = embed_bisecting(embedder, messages[:half])
        good_b, bad_b = embed_bisecting(embedder, messages[half:])
        return good_a + good_b, bad_a + bad_b
    return list(zip(messages, vectors, strict=True)), []


def _check_vectors(vectors: np.ndarray, count: int, dim: int) -> None:
    if vectors.shape != (count, dim):
        raise BadInputError(f"embedder returned shape {vectors.shape}, expected ({count}, {dim})")
    if not np.isfinite(vectors).all():
        raise BadInputError("embedder returned NaN or infinite values")
