"""Reading the index for `ragfleet export`: spans with their enrichment and vector, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from shared.db.doc_embeddings import as_array


def iter_span_exports(
    conn: psycopg.Connection, *, embed_model: str, repo: str | None = None, fetch_rows: int = 2000
) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
    """(span line, its vector or None), ordered by repo, path and line, read with a server-side cursor.

    The enrichment is the one search shows (an LLM tier's before the static tier's, then the newest);
    the vector is the one `embed_model` made for the span's content.
    """
    with conn.cursor(name="spans_export", row_factory=dict_row) as cur:
        cur.itersize = fetch_rows
        cur.execute(
            "SELECT s.repo, s.path, s.language, s.kind, s.name, s.start_line, s.end_line, s.content,"
            " s.content_hash, en.model AS enrichment_model, en.tier, en.prompt_version, en.summary, en.body,"
            " m.model AS embedding_model, m.embedding"
            " FROM spans s"
            " LEFT JOIN LATERAL (SELECT model, tier, prompt_version, summary, body FROM enrichments e"
            "   WHERE e.content_hash = s.content_hash ORDER BY (e.tier = 'static'), e.created_at DESC LIMIT 1)"
            "  en ON true"
            " LEFT JOIN embeddings m ON m.content_hash = s.content_hash AND m.model = %(model)s"
            " WHERE %(repo)s::text IS NULL OR s.repo = %(repo)s"
            " ORDER BY s.repo, s.path, s.start_line, s.id",
            {"model": embed_model, "repo": repo},
        )
        for row in cur:
            vector = row.pop("embedding")
            enrichment = None
            if row["enrichment_model"] is not None:
                enrichment = {
                    "model": row.pop("enrichment_model"),
                    "tier": row.pop("tier"),
                    "prompt_version": row.pop("prompt_version"),
                    "summary": row.pop("summary"),
                    "body": row.pop("body"),
                }
            else:
                for key in ("enrichment_model", "tier", "prompt_version", "summary", "body"):
                    row.pop(key)
            line = {"type": "span", **row, "enrichment": enrichment}
            yield line, (as_array(vector) if vector is not None else None)


def schema_version(conn: psycopg.Connection) -> int:
    """The newest migration applied to this database."""
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
