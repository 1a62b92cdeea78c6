"""The chunk stage: a file's text becomes spans with complexity figures and a start tier."""

from __future__ import annotations

from shared.db.spans import SpanRow, StoredSpan, replace_file_spans
from shared.hashing import content_hash
from shared.messages import FileMessage, SpanMessage
from shared.router import start_tier
from workers.chunking import chunk_text, measure_complexity
from workers.context import WorkerContext


def spans_of(msg: FileMessage, ctx: WorkerContext) -> tuple[list[SpanRow], str | None]:
    """The file's spans ready to store, and why chunking fell back to windows (if it did)."""
    settings = ctx.settings
    result = chunk_text(
        msg.path,
        msg.text(),
        window_lines=settings.chunk.window_lines,
        overlap_lines=settings.chunk.overlap_lines,
        max_tokens=settings.chunk.max_span_tokens,
    )
    rows = []
    for span in result.spans:
        figures = measure_complexity(span, result.language)
        rows.append(
            SpanRow(
                kind=span.kind,
                name=span.name,
                start_line=span.start_line,
                end_line=span.end_line,
                content=span.content,
                content_hash=content_hash(span.content),
                complexity=figures,
                start_tier=start_tier(figures, settings.router, settings.tiers),
            )
        )
    return rows, result.fallback_reason


def chunk_file(msg: FileMessage, ctx: WorkerContext) -> list[SpanMessage] | None:
    """Store the file's spans; the span messages still to publish (None: the message was stale)."""
    rows, fallback = spans_of(msg, ctx)
    with ctx.db.connection() as conn:
        stored = replace_file_spans(
            conn,
            repo=msg.repo,
            path=msg.path,
            content_hash=msg.content_hash,
            spans=rows,
            fallback=fallback,
            embed_model=ctx.settings.embedding.model,
        )
    if stored is None:
        return None
    # Spans whose content is already embedded (unchanged code, or the same code elsewhere) need no work.
    return [_span_message(msg, s) for s in stored if not s.embedded]


def _span_message(msg: FileMessage, stored: StoredSpan) -> SpanMessage:
    row = stored.row
    return SpanMessage(
        tier=row.start_tier,
        span_id=stored.span_id,
        repo=msg.repo,
        path=msg.path,
        language=msg.language,
        kind=row.kind,
        name=row.name,
        start_line=row.start_line,
        end_line=row.end_line,
        content_hash=row.content_hash,
        content=row.content,
        complexity=row.complexity,
    )
