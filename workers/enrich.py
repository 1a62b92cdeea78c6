"""The enrich stage. With no LLM endpoint configured for a tier, its queue is served by the static tier."""

from __future__ import annotations

from shared.db.enrichments import EnrichmentRow, find_enrichment, upsert_enrichment
from shared.messages import EmbedMessage, Enrichment, SpanMessage
from shared.names import STATIC_MODEL, STATIC_TIER
from workers.chunking import Span
from workers.context import WorkerContext
from workers.static_facts import extract_facts, static_enrichment


def enrich_span(msg: SpanMessage, ctx: WorkerContext) -> EmbedMessage:
    """Enrich one span (content-addressed: known content is never enriched twice); returns its embed message."""
    prompt_version = ctx.settings.prompt_version
    with ctx.db.connection() as conn:
        body = find_enrichment(conn, msg.content_hash, prompt_version, STATIC_MODEL)
    if body is None:
        span = Span(msg.kind, msg.name, msg.start_line, msg.end_line, msg.content)
        facts = extract_facts(span, msg.language)
        body = static_enrichment(span, msg.language, facts)
        with ctx.db.connection() as conn:
            upsert_enrichment(
                conn,
                EnrichmentRow(
                    content_hash=msg.content_hash,
                    prompt_version=prompt_version,
                    model=STATIC_MODEL,
                    tier=STATIC_TIER,
                    host=ctx.hostname,
                    body=body,
                    facts=facts,
                    attempts=len(msg.attempts) + 1,
                ),
            )
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
