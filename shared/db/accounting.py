"""What the enrichment tiers cost and how well they answer, per tier and host (for `ragfleet status`).

Enrichment figures (tokens, cost, latency) come from the stored enrichments: one row per distinct
content, so a span reused across repos is counted once — the work done, not the spans served.
Success and failure rates come from the attempts table: every try, including those that failed.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row


def tier_accounting(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """One row per (tier, host): enrichments, tokens, cost, p50/p95 latency, attempts ok/failed, errors by class."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT tier, host, count(*) AS enriched, sum(tokens_in)::bigint AS tokens_in,"
            " sum(tokens_out)::bigint AS tokens_out, sum(cost_usd)::float AS cost_usd,"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::float AS p50_ms,"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::float AS p95_ms,"
            " avg(attempts)::float AS mean_attempts"
            " FROM enrichments GROUP BY tier, host"
        )
        enriched = {(r["tier"], r["host"]): r for r in cur.fetchall()}
        cur.execute(
            "SELECT tier, host, sum(n) FILTER (WHERE ok) AS ok, sum(n) FILTER (WHERE NOT ok) AS failed,"
            " coalesce(jsonb_object_agg(error_class, n) FILTER (WHERE NOT ok), '{}') AS errors"
            " FROM (SELECT tier, host, ok, error_class, count(*) AS n FROM attempts"
            "  WHERE stage = 'enrich' AND tier <> '' GROUP BY 1, 2, 3, 4) a GROUP BY tier, host"
        )
        tried = {(r["tier"], r["host"]): r for r in cur.fetchall()}
    rows = []
    for tier, host in sorted(enriched.keys() | tried.keys()):
        e, a = enriched.get((tier, host), {}), tried.get((tier, host), {})
        ok, failed = int(a.get("ok") or 0), int(a.get("failed") or 0)
        rows.append(
            {
                "tier": tier,
                "host": host,
                "enriched": int(e.get("enriched", 0)),
                "tokens_in": int(e.get("tokens_in") or 0),
                "tokens_out": int(e.get("tokens_out") or 0),
                "cost_usd": round(float(e.get("cost_usd") or 0.0), 6),
                "p50_ms": e.get("p50_ms"),
                "p95_ms": e.get("p95_ms"),
                "mean_attempts": e.get("mean_attempts"),
                "attempts_ok": ok,
                "attempts_failed": failed,
                "success_rate": round(ok / (ok + failed), 4) if ok + failed else None,
                "errors": dict(a.get("errors") or {}),
            }
        )
    return rows


def dead_letter_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Dead letters per queue and error class (`enrich.api: InvalidOutputError` -> n)."""
    return dict(conn.execute("SELECT queue || ': ' || error_class, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1"))


LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def tier_totals(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Per tier: enrichments, tokens in/out, cost, and the cumulative latency histogram (Prometheus' shape)."""
    # The bucket bounds are our own constants, not input: formatting them into the query is safe.
    buckets = ", ".join(
        f"count(*) FILTER (WHERE duration_ms <= {int(b * 1000)}) AS le_{i}" for i, b in enumerate(LATENCY_BUCKETS_S)
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT tier, count(*) AS enriched, sum(tokens_in)::bigint AS tokens_in,"
            " sum(tokens_out)::bigint AS tokens_out, sum(cost_usd)::float AS cost_usd,"
            f" sum(duration_ms)::bigint AS duration_ms, {buckets} FROM enrichments GROUP BY tier ORDER BY tier"
        )
        rows = cur.fetchall()
    return [
        {
            "tier": r["tier"],
            "enriched": int(r["enriched"]),
            "tokens_in": int(r["tokens_in"] or 0),
            "tokens_out": int(r["tokens_out"] or 0),
            "cost_usd": float(r["cost_usd"] or 0.0),
            "duration_s": int(r["duration_ms"] or 0) / 1000,
            "buckets": [(b, int(r[f"le_{i}"])) for i, b in enumerate(LATENCY_BUCKETS_S)],
        }
        for r in rows
    ]
