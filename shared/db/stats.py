"""Read-only figures for status, progress bars and summaries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

COUNTED_TABLES = ("repos", "files", "spans", "enrichments", "embeddings", "dead_letters", "doc_embeddings")


@dataclass(frozen=True)
class RepoProgress:
    """How far one repo has come through each stage."""

    files_total: int
    files_chunked: int
    files_failed: int
    spans_total: int
    spans_enriched: int
    spans_embedded: int
    spans_dead: int

    @property
    def chunk_done(self) -> bool:
        """Every published file has been chunked or has failed with a reason."""
        return self.files_chunked + self.files_failed >= self.files_total

    @property
    def enrich_done(self) -> bool:
        """Every span is enriched or dead-lettered."""
        return self.spans_enriched + self.spans_dead >= self.spans_total

    @property
    def embed_done(self) -> bool:
        """Every span is embedded or dead-lettered."""
        return self.spans_embedded + self.spans_dead >= self.spans_total

    @property
    def done(self) -> bool:
        """The repo is fully indexed: nothing is left in flight."""
        return self.chunk_done and self.enrich_done and self.embed_done


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row counts of the main tables."""
    selects = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in COUNTED_TABLES)
    return {name: int(n) for name, n in conn.execute(selects)}


def repo_progress(conn: psycopg.Connection, repo: str, prompt_version: str, embed_model: str) -> RepoProgress:
    """Progress of one repo through chunk, enrich and embed."""
    files = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'chunked' AND chunked_hash = content_hash),"
        " count(*) FILTER (WHERE status = 'failed') FROM files WHERE repo = %s",
        (repo,),
    ).fetchone()
    spans = conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM enrichments e"
        "   WHERE e.content_hash = s.content_hash AND e.prompt_version = %(pv)s)),"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM embeddings m"
        "   WHERE m.content_hash = s.content_hash AND m.model = %(model)s)),"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM dead_letters d"
        "   WHERE d.key = s.content_hash AND d.stage IN ('enrich', 'embed')))"
        " FROM spans s WHERE s.repo = %(repo)s",
        {"pv": prompt_version, "model": embed_model, "repo": repo},
    ).fetchone()
    assert files is not None and spans is not None
    return RepoProgress(*(int(x) for x in files), *(int(x) for x in spans))


def repo_summary(conn: psycopg.Connection, repo: str) -> dict[str, Any]:
    """Spans by kind and tier, chunking fallbacks and failures by reason, for the end-of-index table."""
    by_kind: dict[str, int] = dict(
        conn.execute("SELECT kind, count(*) FROM spans WHERE repo = %s GROUP BY 1 ORDER BY 1", (repo,))
    )
    by_tier: dict[str, int] = dict(
        conn.execute(
            "SELECT coalesce(e.tier, '(none)'), count(*) FROM spans s LEFT JOIN LATERAL"
            " (SELECT tier FROM enrichments e WHERE e.content_hash = s.content_hash"
            "  ORDER BY created_at DESC LIMIT 1) e ON true WHERE s.repo = %s GROUP BY 1 ORDER BY 1",
            (repo,),
        )
    )
    failures: dict[str, int] = dict(
        conn.execute(
            "SELECT stage || ': ' || error_class, count(*) FROM dead_letters WHERE repo = %s GROUP BY 1"
            " UNION ALL SELECT 'chunk: ' || split_part(error, ':', 1), count(*) FROM files"
            " WHERE repo = %s AND status = 'failed' GROUP BY 1",
            (repo, repo),
        )
    )
    fallbacks = conn.execute(
        "SELECT count(*) FROM files WHERE repo = %s AND chunk_fallback IS NOT NULL", (repo,)
    ).fetchone()
    return {
        "spans_by_kind": by_kind,
        "spans_by_tier": by_tier,
        "failures": failures,
        "chunk_fallbacks": int(fallbacks[0]) if fallbacks else 0,
    }


def tier_distribution(conn: psycopg.Connection) -> dict[str, int]:
    """How many spans the router sent to each start tier."""
    return dict(conn.execute("SELECT start_tier, count(*) FROM spans GROUP BY 1 ORDER BY 1"))


def search_spans(
    conn: psycopg.Connection, vector: Any, *, model: str, k: int, repo: str | None = None
) -> list[dict[str, Any]]:
    """The k spans nearest to a query vector (cosine), with their best enrichment's summary."""
    with conn.cursor(row_factory=dict_row) as cur:
        # Over-fetch from the HNSW index, then join: one embedding may back spans in several files.
        cur.execute(
            "WITH nearest AS ("
            "  SELECT content_hash, embedding <=> %(q)s AS distance FROM embeddings"
            "  WHERE model = %(model)s ORDER BY embedding <=> %(q)s LIMIT %(fetch)s)"
            " SELECT s.repo, s.path, s.start_line, s.end_line, s.kind, s.name,"
            "  1 - n.distance AS score, en.summary, en.tier, en.model AS enrichment_model"
            " FROM nearest n JOIN spans s ON s.content_hash = n.content_hash"
            " LEFT JOIN LATERAL (SELECT summary, tier, model FROM enrichments e"
            "   WHERE e.content_hash = s.content_hash ORDER BY (e.tier = 'static'), e.created_at DESC LIMIT 1)"
            "  en ON true"
            " WHERE %(repo)s::text IS NULL OR s.repo = %(repo)s"
            " ORDER BY n.distance, s.repo, s.path, s.start_line LIMIT %(k)s",
            {"q": vector, "model": model, "fetch": max(4 * k, 40), "k": k, "repo": repo},
        )
        return list(cur.fetchall())
