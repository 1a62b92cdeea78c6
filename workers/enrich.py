"""The enrich stage: an LLM tier when the span's tier has endpoints, else the static tier.

Content-addressed: a span whose (content hash, prompt version, model) is already enriched — in any
repo or branch — is not sent to a model again.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from shared.db.enrichments import EnrichmentRow, find_enrichment, upsert_enrichment
from shared.db.failures import delete_dead_letters, record_attempt
from shared.messages import Attempt, EmbedMessage, Enrichment, SpanMessage, StaticFacts
from shared.names import STATIC_MODEL, STATIC_TIER
from workers import shutdown
from workers.chunking import Span
from workers.context import WorkerContext
from workers.gpu.telemetry import PeakWindow
from workers.static_facts import extract_facts, static_enrichment
from workers.tiers import Enriched, Escalate, TierRun


@dataclass(frozen=True)
class Escalation:
    """The span goes on to a stronger tier's queue."""

    message: SpanMessage


@dataclass(frozen=True)
class DeadEnd:
    """No tier can enrich the span: dead-letter it with its history."""

    message: SpanMessage
    error_class: str
    reason: str


def enrich_span(msg: SpanMessage, ctx: WorkerContext) -> EmbedMessage | Escalation | DeadEnd:
    """Enrich one span on its tier; the embed message, or where the span goes next."""
    tier = ctx.settings.tiers.get(msg.tier)
    model = tier.model if tier.configured else STATIC_MODEL
    with ctx.db.connection() as conn:
        known = find_enrichment(conn, msg.content_hash, ctx.settings.prompt_version, model)
    if known is not None:  # reuse before any parsing or model call
        return _embed_message(msg, known)
    span = Span(msg.kind, msg.name, msg.start_line, msg.end_line, msg.content)
    facts = extract_facts(span, msg.language)
    if not tier.configured:
        body = static_enrichment(span, msg.language, facts)
        _store(ctx, msg, body, facts, model=STATIC_MODEL, tier=STATIC_TIER, host=ctx.hostname,
               attempts=len(msg.attempts) + 1)  # fmt: skip
        return _embed_message(msg, body)
    run = TierRun(
        msg=msg, facts=facts, tiers=ctx.settings.tiers, backend_for=lambda host: ctx.backend(msg.tier, host),
        cooldowns=ctx.cooldowns, record=lambda attempt: _record(ctx, msg, attempt), load=ctx.host_load,
        sleep=shutdown.pause, stopping=shutdown.stopping,
    )  # fmt: skip
    sampler = ctx.gpu_sampler  # a GPU-pinned worker: the GPU's framebuffer peak while the model ran
    with sampler.measure_peak() if sampler is not None else nullcontext(PeakWindow()) as window:
        outcome = run.run()
    history = [*msg.attempts, *run.attempts]
    if isinstance(outcome, Enriched):
        _store(ctx, msg, outcome.enrichment, facts, model=model, tier=msg.tier, host=outcome.host,
               attempts=len(history), tokens_in=outcome.tokens_in, tokens_out=outcome.tokens_out,
               duration_ms=outcome.duration_ms, cost_usd=outcome.cost_usd,
               gpu_vram_peak_mib=window.peak_mib)  # fmt: skip
        return _embed_message(msg, outcome.enrichment)
    moved = msg.model_copy(update={"attempts": history})
    if isinstance(outcome, Escalate) and outcome.to is not None:
        return Escalation(moved.model_copy(update={"tier": outcome.to}))
    return DeadEnd(moved, outcome.error_class, outcome.reason)


def _store(ctx: WorkerContext, msg: SpanMessage, body: Enrichment, facts: StaticFacts, **accounting: Any) -> None:
    with ctx.db.connection() as conn:
        upsert_enrichment(
            conn,
            EnrichmentRow(
                content_hash=msg.content_hash,
                prompt_version=ctx.settings.prompt_version,
                body=body,
                facts=facts,
                **accounting,
            ),
        )
        # A requeued or re-enqueued span that now succeeds is no longer dead.
        delete_dead_letters(conn, ("enrich",), [msg.content_hash])


def _record(ctx: WorkerContext, msg: SpanMessage, attempt: Attempt) -> None:
    with ctx.db.connection() as conn:
        record_attempt(
            conn,
            stage="enrich",
            key=msg.content_hash,
            ok=not attempt.error_class,
            tier=attempt.tier,
            host=attempt.host,
            error_class=attempt.error_class,
            message=attempt.message,
            duration_ms=attempt.duration_ms,
        )


def _embed_message(msg: SpanMessage, body: Enrichment) -> EmbedMessage:
    return EmbedMessage(
        span_id=msg.span_id,
        repo=msg.repo,
        path=msg.path,
        content_hash=msg.content_hash,
        text=embedding_text(msg, body),
    )


def embedding_text(msg: SpanMessage, body: Enrichment) -> str:
    """What gets embedded: the symbol, its enrichment's summary, then the code (the model cuts at 256 tokens)."""
    return f"{msg.kind} {msg.name}\n{body.summary}\n{msg.content}"
