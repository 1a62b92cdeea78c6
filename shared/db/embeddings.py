"""Embeddings: one vector per (span content hash, model), checked against the table's dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from shared.errors import ConfigurationError


@dataclass(frozen=True)
class EmbeddingRow:
    """A vector ready to store."""

    content_hash: str
    model: str
    prompt_version: str
    text_hash: str
    vector: np.ndarray


def table_dimension(conn: psycopg.Connection) -> int:
    """The dimension of `embeddings.embedding` as declared in the schema."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'embeddings'::regclass AND attname = 'embedding'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def check_dimension(conn: psycopg.Connection, model: str, dim: int) -> None:
    """ConfigurationError before any write when the embedder's dimension differs from the table's."""
    declared = table_dimension(conn)
    if declared != dim:
        raise ConfigurationError(
            f"embedding model {model!r} makes {dim}-d vectors but embeddings.embedding is vector({declared})"
        )


def current_text_hashes(conn: psycopg.Connection, content_hashes: Sequence[str], model: str) -> dict[str, str]:
    """content hash -> hash of the text its stored vector was made from."""
    rows = conn.execute(
        "SELECT content_hash, text_hash FROM embeddings WHERE model = %s AND content_hash = ANY(%s)",
        (model, list(content_hashes)),
    )
    return {h: t for h, t in rows}


def upsert_embeddings(conn: psycopg.Connection, rows: Sequence[EmbeddingRow]) -> None:
    """Store vectors in one pipelined round of upserts."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO embeddings (content_hash, model, dim, prompt_version, text_hash, embedding)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (content_hash, model) DO UPDATE SET dim = EXCLUDED.dim,"
            " prompt_version = EXCLUDED.prompt_version, text_hash = EXCLUDED.text_hash,"
            " embedding = EXCLUDED.embedding, created_at = now()",
            [(r.content_hash, r.model, int(r.vector.shape[0]), r.prompt_version, r.text_hash, r.vector) for r in rows],
        )
