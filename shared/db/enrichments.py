"""Enrichments, content-addressed by (span content hash, prompt version, model)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from shared.messages import Enrichment, StaticFacts


@dataclass(frozen=True)
class EnrichmentRow:
    """An enrichment with its accounting, as stored."""

    content_hash: str
    prompt_version: str
    model: str
    tier: str
    host: str
    body: Enrichment
    facts: StaticFacts | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    duration_ms: int = 0
    gpu_vram_peak_mib: int | None = None
    cost_usd: float = 0.0
    attempts: int = 1


def find_enrichment(conn: psycopg.Connection, content_hash: str, prompt_version: str, model: str) -> Enrichment | None:
    """The stored enrichment of this content by this model and prompt, if any."""
    row = conn.execute(
        "SELECT body FROM enrichments WHERE content_hash = %s AND prompt_version = %s AND model = %s",
        (content_hash, prompt_version, model),
    ).fetchone()
    return Enrichment.model_validate(row[0]) if row else None


def upsert_enrichment(conn: psycopg.Connection, row: EnrichmentRow) -> None:
    """Store an enrichment; a redelivered message overwrites its own row, never duplicates it."""
    conn.execute(
        "INSERT INTO enrichments (content_hash, prompt_version, model, tier, host, summary, body, facts,"
        " tokens_in, tokens_out, duration_ms, gpu_vram_peak_mib, cost_usd, attempts)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (content_hash, prompt_version, model) DO UPDATE SET tier = EXCLUDED.tier,"
        " host = EXCLUDED.host, summary = EXCLUDED.summary, body = EXCLUDED.body, facts = EXCLUDED.facts,"
        " tokens_in = EXCLUDED.tokens_in, tokens_out = EXCLUDED.tokens_out,"
        " duration_ms = EXCLUDED.duration_ms, gpu_vram_peak_mib = EXCLUDED.gpu_vram_peak_mib,"
        " cost_usd = EXCLUDED.cost_usd, attempts = EXCLUDED.attempts",
        (
            row.content_hash,
            row.prompt_version,
            row.model,
            row.tier,
            row.host,
            row.body.summary,
            Jsonb(row.body.to_wire()),
            Jsonb(row.facts.to_wire()) if row.facts else None,
            row.tokens_in,
            row.tokens_out,
            row.duration_ms,
            row.gpu_vram_peak_mib,
            row.cost_usd,
            row.attempts,
        ),
    )
