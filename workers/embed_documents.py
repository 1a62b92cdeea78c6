"""The embed stage for msgpack backlog documents: model calls by count and token budget, rows written with binary COPY.

The Celery task (`workers.tasks.embed_documents`) decodes the message, calls `embed_documents`, and
dead-letters what the model rejected, all under `workers.guard.guarded`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from shared.db.doc_embeddings import DocRow, check_doc_dimension, write_docs
from shared.db.failures import DeadLetter, upsert_dead_letter
from shared.errors import ConfigurationError
from shared.hashing import content_hash
from shared.messages import BacklogDocument, EmbedDocumentsMessage
from shared.names import QUEUE_EMBED, TASK_EMBED_DOCUMENTS
from workers.context import WorkerContext
from workers.embed_batches import embed_in_batches

log = logging.getLogger(__name__)

TASK: Final = TASK_EMBED_DOCUMENTS


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
    emb = ctx.settings.embedding
    vectors, rejected = embed_in_batches(
        embedder, msg.documents, batch_size=emb.batch_size, max_batch_tokens=emb.max_batch_tokens
    )
    rows = [
        DocRow(d.content_hash, embedder.model, msg.prompt_version, d.text, d.metadata, d.source, d.batch_tag, v)
        for d, v in vectors
    ]
    if rows:
        with ctx.db.connection() as conn:
            write_docs(conn, rows, replace=True)
    return DocumentsOutcome(stored=len(rows), rejected=rejected)


def decode(payload: Any) -> EmbedDocumentsMessage:
    """The message, or BadInputError naming the bad fields (the task dead-letters it whole)."""
    return EmbedDocumentsMessage.from_wire(payload)


def message_key(payload: Any) -> str:
    """A dead letter's key for a whole message: its documents' hashes, hashed (stable across redeliveries)."""
    documents = payload.get("documents") if isinstance(payload, dict) else None
    if not isinstance(documents, list):
        documents = []
    hashes = [str(d.get("content_hash")) for d in documents if isinstance(d, dict)]
    return "documents:" + content_hash("\n".join(hashes) or repr(payload)[:10_000])[:32]


def dead_letter_rejected(ctx: WorkerContext, msg: EmbedDocumentsMessage, outcome: DocumentsOutcome) -> None:
    """Each document the model could not embed, as a message of its own (`requeue-dead --stage embed` sends it)."""
    if not outcome.rejected:
        return
    with ctx.db.connection() as conn:
        for document, reason in outcome.rejected:
            log.error("dead-lettered document %s from %s: %s", document.content_hash[:12], msg.origin, reason)
            upsert_dead_letter(
                conn,
                DeadLetter(
                    stage="embed",
                    key=document.content_hash,
                    task_name=TASK_EMBED_DOCUMENTS,
                    queue=QUEUE_EMBED,
                    error_class="BadInputError",
                    reason=reason[:4000],
                    payload=msg.model_copy(update={"documents": [document]}).to_wire(),
                    history=[],
                    repo=None,
                    path=msg.origin or None,
                ),
            )
