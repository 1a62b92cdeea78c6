"""Content-addressed rows outlive the spans that made them only while another span shares them."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg


def collect_orphans(conn: psycopg.Connection, content_hashes: Sequence[str]) -> None:
    """Delete enrichments and embeddings of these hashes that no remaining span refers to."""
    if not content_hashes:
        return
    for table in ("enrichments", "embeddings"):
        conn.execute(
            f"DELETE FROM {table} t WHERE t.content_hash = ANY(%s)"  # noqa: S608 - fixed table names
            " AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.content_hash = t.content_hash)",
            (list(content_hashes),),
        )
