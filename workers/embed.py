"""The embed stage: many span texts per model call, vectors upserted together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.db.embeddings import EmbeddingRow, check_dimension, current_text_hashes, upsert_embeddings
from shared.db.hnsw import hnsw_deferred_if_large
from shared.hashing import content_hash
from shared.messages import EmbedMessage
from workers.context import WorkerContext
from workers.embed_batches import embed_in_batches


@dataclass
class EmbedOutcome:
    """What one batch came to: stored, already current, and rejected messages with their reasons."""

    stored: int = 0
    unchanged: int = 0
    rejected: list[tuple[EmbedMessage, str]] = field(default_factory=list)


def embed_batch(messages: Sequence[EmbedMessage], ctx: WorkerContext) -> EmbedOutcome:
    """Embed every message whose text changed, in calls of `batch_size` texts (a failing call is bisected)."""
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
    vectors, outcome.rejected = embed_in_batches(
        embedder, todo, batch_size=settings.embedding.batch_size, max_batch_tokens=settings.embedding.max_batch_tokens
    )
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
        emb = settings.embedding
        with (
            ctx.db.connection() as conn,
            hnsw_deferred_if_large(
                conn,
                "embeddings",
                len(rows),
                rebuild_index_rows=emb.rebuild_index_rows,
                build_memory=emb.index_build_memory,
            ),
        ):
            upsert_embeddings(conn, rows)
    outcome.stored = len(rows)
    return outcome
