"""Embeddings: one vector per (span content hash, model), checked against the table's dimension."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from shared.db.bulk import CopyTarget, copy_if_new, copy_upsert
from shared.errors import ConfigurationError


@dataclass(frozen=True)
class EmbeddingRow:
    """A vector ready to store."""

    content_hash: str
    model: str
    prompt_version: str
    text_hash: str
    vector: np.ndarray


def table_dimension(conn: psycopg.Connection, table: str = "embeddings", column: str = "embedding") -> int:
    """The dimension of `table.column` (a vector column) as declared in the schema."""
    row = conn.execute(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s", (table, column)
    ).fetchone()
    if row is None:
        raise ConfigurationError(f"table {table} has no column {column}: are the migrations applied?")
    return int(row[0])


def check_dimension(conn: psycopg.Connection, model: str, dim: int, table: str = "embeddings") -> None:
    """ConfigurationError before any write when the embedder's dimension differs from the table's."""
    declared = table_dimension(conn, table)
    if declared != dim:
        raise ConfigurationError(
            f"embedding model {model!r} makes {dim}-d vectors but {table}.embedding is vector({declared}):"
            " configure a model of that dimension (or migrate the table)"
        )


def current_text_hashes(conn: psycopg.Connection, content_hashes: Sequence[str], model: str) -> dict[str, str]:
    """content hash -> hash of the text its stored vector was made from.

    Never prepared: a generic plan chosen while the table was small (a sequential scan against the
    whole array) would be kept by a pooled connection as the table grows.
    """
    rows = conn.execute(
        "SELECT content_hash, text_hash FROM embeddings WHERE model = %s AND content_hash = ANY(%s)",
        (model, list(content_hashes)),
        prepare=False,
    )
    return {h: t for h, t in rows}


EMBEDDINGS = CopyTarget(
    table="embeddings",
    columns=[
        ("content_hash", "text"),
        ("model", "text"),
        ("dim", "int4"),
        ("prompt_version", "text"),
        ("text_hash", "text"),
        ("embedding", "vector"),
    ],
    key=["content_hash", "model"],
    # created_at is not staged: EXCLUDED.created_at is its default, now(), as the upsert always set it.
    update=["dim", "prompt_version", "text_hash", "embedding", "created_at"],
)


# Measured by bench_embed (b). New keys: a raw COPY is fastest at any size. Stored keys (an upsert): for a span
# batch (64 rows, one transaction) pipelined executemany is ~3x faster than COPY + merge, whose staging table costs
# more than the rows; from about a thousand rows on, COPY + merge is as fast or faster.
COPY_FROM_ROWS = 1_000
UPSERT = (
    "INSERT INTO embeddings (content_hash, model, dim, prompt_version, text_hash, embedding)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (content_hash, model) DO UPDATE SET dim = EXCLUDED.dim, prompt_version = EXCLUDED.prompt_version,"
    " text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding, created_at = now()"
)


def upsert_embeddings(conn: psycopg.Connection, rows: Sequence[EmbeddingRow]) -> int:
    """Store vectors (insert, or replace the one stored for the same span and model); returns the keys written.

    A (span, model) given twice keeps the last vector. Rows go in by one binary COPY while none of their keys
    is stored; otherwise (re-embedding) as one pipelined executemany of upserts, or from COPY_FROM_ROWS rows on
    by COPY into a staging table merged with one INSERT … ON CONFLICT.
    """
    values = [(r.content_hash, r.model, int(r.vector.shape[0]), r.prompt_version, r.text_hash, r.vector)
              for r in rows]  # fmt: skip
    # A key repeated in `rows` fails the plain COPY too; both upserts then keep its last row.
    written = copy_if_new(conn, EMBEDDINGS, values)
    if written is not None:
        return written
    if len(values) >= COPY_FROM_ROWS:
        return copy_upsert(conn, EMBEDDINGS, values)
    with conn.cursor() as cur:
        cur.executemany(UPSERT, values)
    return len({(r.content_hash, r.model) for r in rows})
