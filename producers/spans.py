"""Enqueue spans: publish per-span messages straight to a tier's queue, without re-chunking.

For re-enrichment after a prompt or model change (`stale`), for pushing chosen spans to a stronger
tier (`tier`), and for retrying failures (`failed`). One message per distinct content: enrichments are
content-addressed, so identical code in several files or repos is enriched once.

A span whose content the target tier's model has already enriched under the current prompt version
is not published (the worker would only reuse the stored enrichment); it is counted as `current`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from shared.db import connect
from shared.db.enrichments import find_enrichment
from shared.db.failures import delete_dead_letters
from shared.db.spans import SpanFilter, select_spans
from shared.errors import BadInputError
from shared.messages import Complexity, SpanMessage
from shared.names import STATIC_MODEL, TASK_ENRICH_SPAN, TIERS, check_tier, enrich_queue
from shared.router import start_tier
from shared.settings import Settings


@dataclass(frozen=True)
class SpanSelection:
    """What the operator asked for (`ragfleet enqueue spans` options)."""

    repo: str | None = None
    path_glob: str | None = None
    tier: str | None = None
    stale: bool = False
    failed: bool = False


@dataclass
class SpanEnqueueReport:
    """What one `enqueue spans` did: selected = published + current."""

    selected: int = 0
    current: int = 0
    published: Counter[str] = field(default_factory=Counter)
    """tier -> messages published to its queue."""
    dead_letters_cleared: int = 0


def current_models(settings: Settings) -> tuple[str, ...]:
    """The models whose enrichments count as current: the configured tiers', or the static tier's."""
    models = tuple(t.model for t in (settings.tiers.get(n) for n in TIERS) if t.configured)
    return models or (STATIC_MODEL,)


def enqueue_spans(
    settings: Settings,
    app: Celery,
    selection: SpanSelection,
    *,
    on_publish: Callable[[int], None] | None = None,
) -> SpanEnqueueReport:
    """Publish the selected spans to their tier's queue (the router's choice, or `selection.tier`)."""
    _check_tier(settings, selection.tier)
    where = SpanFilter(
        repo=selection.repo,
        path_glob=selection.path_glob,
        stale=selection.stale,
        failed=selection.failed,
        prompt_version=settings.prompt_version,
        current_models=current_models(settings),
    )
    report = SpanEnqueueReport()
    published_hashes: list[str] = []
    with connect(settings.require_database_url()) as conn:
        for row in select_spans(conn, where):
            report.selected += 1
            message = _span_message(row, selection.tier, settings)
            model = settings.tiers.get(message.tier).model or STATIC_MODEL
            known = find_enrichment(conn, message.content_hash, settings.prompt_version, model)
            if known is not None and not selection.failed:
                report.current += 1
                continue
            app.send_task(TASK_ENRICH_SPAN, args=[message.to_wire()], queue=enrich_queue(message.tier))
            report.published[message.tier] += 1
            published_hashes.append(message.content_hash)
            if on_publish:
                on_publish(sum(report.published.values()))
        if selection.failed:
            # Their messages are back in a queue: the old dead letters would count them as finished.
            report.dead_letters_cleared = delete_dead_letters(conn, ("enrich", "embed"), published_hashes)
        conn.commit()
    return report


def _check_tier(settings: Settings, tier: str | None) -> None:
    if tier is None:
        return
    check_tier(tier)
    configured = [t for t in TIERS if settings.tiers.get(t).configured]
    if configured and tier not in configured:
        variable = f"RAGFLEET_TIERS__{tier.upper()}__ENDPOINTS"
        raise BadInputError(f"--tier {tier}: the tier has no endpoints or model (set {variable} and its MODEL)")


def _span_message(row: dict[str, Any], tier: str | None, settings: Settings) -> SpanMessage:
    complexity = Complexity.model_validate({f: row[f] for f in Complexity.model_fields})
    fields = ("repo", "path", "language", "kind", "name", "start_line", "end_line", "content_hash", "content")
    return SpanMessage(
        tier=tier or start_tier(complexity, settings.router, settings.tiers),
        span_id=row["id"],
        complexity=complexity,
        **{f: row[f] for f in fields},
    )
