"""The Celery tasks: decode the message, call the stage's plain function, publish what comes next."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery_batches import Batches, SimpleRequest

from shared.db.failures import DeadLetter, count_delivery, forget_delivery, upsert_dead_letter
from shared.db.spans import mark_file_failed
from shared.errors import BadInputError, ConfigurationError, RetryableError
from shared.messages import EmbedMessage, FileMessage, SpanMessage
from shared.names import QUEUE_EMBED, TASK_CHUNK_FILE, TASK_EMBED_SPAN, TASK_ENRICH_SPAN, enrich_queue
from workers import chunk, embed, enrich
from workers import embed_documents as embed_docs
from workers.celery import app, settings
from workers.context import get_context
from workers.guard import MAX_RETRIES, backoff_s, guarded

log = logging.getLogger(__name__)


@app.task(name=TASK_CHUNK_FILE, bind=True)
def chunk_file(self: Task, payload: dict[str, Any]) -> int:
    """Chunk one file and publish a message per span that still needs enriching."""
    ctx = get_context()
    repo, path = _field(payload, "repo"), _field(payload, "path")

    def body() -> int:
        msg = FileMessage.from_wire(payload)
        span_messages = chunk.chunk_file(msg, ctx)
        for m in span_messages or []:
            app.send_task(TASK_ENRICH_SPAN, args=[m.to_wire()], queue=enrich_queue(m.tier))
        return len(span_messages or [])

    def on_dead(reason: str) -> None:
        with ctx.db.connection() as conn:
            mark_file_failed(conn, repo=repo, path=path, content_hash=_field(payload, "content_hash"), error=reason)

    published = guarded(
        self,
        ctx,
        stage="chunk",
        key=f"{repo}:{path}",
        payload=payload,
        body=body,
        repo=repo,
        path=path,
        on_dead=on_dead,
    )
    return published or 0


@app.task(name=TASK_ENRICH_SPAN, bind=True)
def enrich_span(self: Task, payload: dict[str, Any]) -> None:
    """Enrich one span on this queue's tier, then send it to `embed`."""
    ctx = get_context()

    def body() -> None:
        msg = SpanMessage.from_wire(payload)
        outcome = enrich.enrich_span(msg, ctx)
        if isinstance(outcome, EmbedMessage):
            app.send_task(TASK_EMBED_SPAN, args=[outcome.to_wire()], queue=QUEUE_EMBED)
        elif isinstance(outcome, enrich.Escalation):
            nxt = outcome.message
            app.send_task(TASK_ENRICH_SPAN, args=[nxt.to_wire()], queue=enrich_queue(nxt.tier))
        else:
            _dead_letter_span(ctx, outcome, queue=enrich_queue(msg.tier))

    guarded(
        self,
        ctx,
        stage="enrich",
        key=_field(payload, "content_hash"),
        payload=payload,
        body=body,
        repo=_field(payload, "repo"),
        path=_field(payload, "path"),
    )


@app.task(
    name=TASK_EMBED_SPAN,
    base=Batches,
    flush_every=settings.embedding.batch_size,
    flush_interval=settings.embedding.flush_interval_s,
)
def embed_span(requests: list[SimpleRequest]) -> None:
    """Embed a buffer of span messages with one model call; a bad message is dead-lettered, not the batch."""
    ctx = get_context()
    messages: list[EmbedMessage] = []
    payloads: dict[str, dict[str, Any]] = {}
    retries: dict[str, int] = {}
    with ctx.db.connection() as conn:
        for request in requests:
            payload = request.args[0] if request.args else {}
            retries_so_far = int(request.kwargs.get("retries", 0))
            try:
                if count_delivery(conn, request.id) > ctx.settings.broker.max_redeliveries:
                    raise BadInputError("delivered too many times (a worker died on it each time)")
                msg = EmbedMessage.from_wire(payload)
            except BadInputError as exc:
                _dead_letter_embed(conn, payload, str(exc))
                forget_delivery(conn, request.id)
                continue
            messages.append(msg)
            payloads[msg.content_hash] = payload
            retries[msg.content_hash] = retries_so_far
    started = time.monotonic()
    try:
        outcome = embed.embed_batch(messages, ctx)
    except RetryableError as exc:
        _republish_or_dead_letter(ctx, messages, payloads, retries, str(exc))
    except ConfigurationError as exc:
        # Wrong dimension, credentials or model: kept whole for `requeue-dead` once the configuration is fixed.
        log.error("embedding is misconfigured: %s", exc)
        with ctx.db.connection() as conn:
            for msg in messages:
                _dead_letter_embed(conn, payloads[msg.content_hash], str(exc), error_class="ConfigurationError")
    else:
        log.info(
            "embedded %d spans (%d unchanged, %d rejected) in %.0f ms",
            outcome.stored,
            outcome.unchanged,
            len(outcome.rejected),
            1000 * (time.monotonic() - started),
        )
        with ctx.db.connection() as conn:
            for msg, reason in outcome.rejected:
                _dead_letter_embed(conn, payloads[msg.content_hash], reason)
    with ctx.db.connection() as conn:
        for request in requests:
            forget_delivery(conn, request.id)


def _dead_letter_span(ctx: Any, dead: enrich.DeadEnd, *, queue: str) -> None:
    """After the last tier: the whole message and its attempt history, ready for `requeue-dead`."""
    msg = dead.message
    log.error("dead-lettered span %s %s:%s: %s", msg.content_hash[:12], msg.path, msg.name, dead.reason)
    with ctx.db.connection() as conn:
        upsert_dead_letter(
            conn,
            DeadLetter(
                stage="enrich",
                key=msg.content_hash,
                task_name=TASK_ENRICH_SPAN,
                queue=queue,
                error_class=dead.error_class,
                reason=dead.reason[:4000],
                payload=msg.to_wire(),
                history=[a.to_wire() for a in msg.attempts],
                repo=msg.repo,
                path=msg.path,
            ),
        )


def _republish_or_dead_letter(
    ctx: Any, messages: list[EmbedMessage], payloads: dict[str, dict[str, Any]], retries: dict[str, int], reason: str
) -> None:
    for msg in messages:
        n = retries[msg.content_hash]
        if n < MAX_RETRIES:
            app.send_task(
                TASK_EMBED_SPAN,
                args=[payloads[msg.content_hash]],
                kwargs={"retries": n + 1},
                queue=QUEUE_EMBED,
                countdown=backoff_s(n),
            )
        else:
            with ctx.db.connection() as conn:
                _dead_letter_embed(conn, payloads[msg.content_hash], reason)


def _dead_letter_embed(conn: Any, payload: Any, reason: str, error_class: str = "BadInputError") -> None:
    log.error("dead-lettered embed message: %s", reason)
    body = payload if isinstance(payload, dict) else {"raw": repr(payload)[:10_000]}
    upsert_dead_letter(
        conn,
        DeadLetter(
            stage="embed",
            key=_field(body, "content_hash") or f"malformed:{hash(repr(body))}",
            task_name=TASK_EMBED_SPAN,
            queue=QUEUE_EMBED,
            error_class=error_class,
            reason=reason[:4000],
            payload=body,
            history=[],
            repo=_field(body, "repo") or None,
            path=_field(body, "path") or None,
        ),
    )


def _field(payload: Any, name: str) -> str:
    value = payload.get(name) if isinstance(payload, dict) else None
    return str(value) if value is not None else ""


# ---------------------------------------------------------------- msgpack backlog documents


@app.task(name=embed_docs.TASK, bind=True)
def embed_documents(self: Task, payload: dict[str, Any]) -> int:
    """Embed a message of backlog documents with one model call; a document that fails is dead-lettered alone."""
    ctx = get_context()

    def body() -> int:
        msg = embed_docs.decode(payload)
        outcome = embed_docs.embed_documents(msg, ctx)
        embed_docs.dead_letter_rejected(ctx, msg, outcome)
        return outcome.stored

    stored = guarded(self, ctx, stage="embed", key=embed_docs.message_key(payload), payload=payload, body=body)
    return stored or 0
