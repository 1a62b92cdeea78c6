"""The embed stage for msgpack backlog documents: one model call per message, rows written with binary COPY."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from shared.db.doc_embeddings import DocRow, check_doc_dimension, write_docs
from shared.embedders import Embedder
from shared.errors import ConfigurationError
from shared.messages import BacklogDocument, EmbedDocumentsMessage, EmbedMessage
from workers.context import WorkerContext
from workers.embed import embed_bisecting


@dataclass
class DocumentsOutcome:
    """What one message came to: rows stored, and documents the model could not embed, with the reason."""

    stored: int = 0
    rejected: list[tuple[BacklogDocument, str]] = field(default_factory=list)


def embed_documents(msg: EmbedDocumentsMessage, ctx: WorkerContext) -> DocumentsOutcome:
    """Embed every document of the message and replace their rows (placeholders included)."""
    embedder = ctx.embedder
    if embedder.model != msg.model:
        raise ConfigurationError(
            f"{msg.origin}: documents for model {msg.model!r}, but this worker embeds with {embedder.model!r}"
        )
    with ctx.db.connection() as conn:
        check_doc_dimension(conn, embedder.model, embedder.dim)
    vectors, rejected = _embed(embedder, msg.documents)
    rows = [
        DocRow(d.content_hash, embedder.model, msg.prompt_version, d.text, d.metadata, d.source, d.batch_tag, v)
        for d, v in vectors
    ]
    if rows:
        with ctx.db.connection() as conn:
            write_docs(conn, rows, replace=True)
    return DocumentsOutcome(stored=len(rows), rejected=rejected)


def _embed(
    embedder: Embedder, documents: Sequence[BacklogDocument]
) -> tuple[list[tuple[BacklogDocument, np.ndarray]], list[tuple[BacklogDocument, str]]]:
    """Many texts per model call, bisected on failure so one bad text is rejected alone.

    embed_bisecting only reads `.text`; the cast goes when it is replaced by
    `workers.embed_batches.embed_in_batches` (token-budget batches), which takes any item with `.text`.
    """
    good, bad = embed_bisecting(embedder, cast(Sequence[EmbedMessage], documents))
    return cast(list[tuple[BacklogDocument, np.ndarray]], good), cast(list[tuple[BacklogDocument, str]], bad)
