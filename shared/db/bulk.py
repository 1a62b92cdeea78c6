"""Bulk writes: binary COPY into a staging table, then one INSERT … ON CONFLICT into the target.

Binary COPY is the fastest way into Postgres (DESIGN.md measures ≈ 65k 384-d rows/s), but
COPY cannot upsert. Rows therefore go into a temporary table shaped like the target and are
merged with a single set-based statement, which keeps every write an idempotent upsert on
the target's natural key. The staging table lives for one transaction (`ON COMMIT DROP`),
so the caller's transaction decides whether the rows land.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus


@dataclass(frozen=True)
class CopyTarget:
    """Where rows go: the table, its columns with their Postgres types, and the natural key."""

    table: str
    columns: Sequence[tuple[str, str]]
    """(column name, Postgres type name as COPY's binary format needs it, e.g. "text", "vector")."""
    key: Sequence[str]
    update: Sequence[str] = ()
    """Columns replaced when the key already exists; empty: existing rows are left as they are."""

    @property
    def names(self) -> list[str]:
        """The column names in order."""
        return [name for name, _ in self.columns]


def copy_rows(conn: psycopg.Connection, table: str, target: CopyTarget, rows: Iterable[Sequence[object]]) -> int:
    """Binary-COPY rows (tuples in `target.columns` order) into `table`; returns how many were written."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, target.names))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types([pg_type for _, pg_type in target.columns])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def copy_upsert(conn: psycopg.Connection, target: CopyTarget, rows: Iterable[Sequence[object]]) -> int:
    """Stage rows with binary COPY and merge them into the target; returns how many rows were inserted or updated.

    Duplicate keys within one call are merged too: the last row for a key wins, as if the rows
    had been upserted one by one.
    """
    stage = f"_stage_{target.table}"
    names = sql.SQL(", ").join(map(sql.Identifier, target.names))
    key = sql.SQL(", ").join(map(sql.Identifier, target.key))
    # Only the staged columns, with the target's exact types (a vector keeps its dimension);
    # CREATE TABLE AS copies no constraints, so omitted columns (ids, timestamps) are no concern.
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
        ).format(stage=sql.Identifier(stage), names=names, table=sql.Identifier(target.table))
    )
    # A staging table left by an earlier call in the same transaction starts empty again.
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    # Arrival order, so that the last row for a duplicated key wins.
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS _ord bigserial").format(sql.Identifier(stage)))
    if copy_rows(conn, stage, target, rows) == 0:
        return 0
    action: sql.Composable
    if target.update:
        action = sql.SQL("DO UPDATE SET {}").format(
            sql.SQL(", ").join(sql.SQL("{col} = EXCLUDED.{col}").format(col=sql.Identifier(c)) for c in target.update)
        )
    else:
        action = sql.SQL("DO NOTHING")
    merged = conn.execute(
        sql.SQL(
            "INSERT INTO {table} ({names}) SELECT DISTINCT ON ({key}) {names} FROM {stage}"
            " ORDER BY {key}, _ord DESC ON CONFLICT ({key}) {action}"
        ).format(table=sql.Identifier(target.table), names=names, key=key, stage=sql.Identifier(stage), action=action)
    )
    return merged.rowcount


def copy_if_new(conn: psycopg.Connection, target: CopyTarget, rows: Sequence[Sequence[object]]) -> int | None:
    """Binary-COPY rows straight into the target if none of their keys is stored yet; else write nothing, return None.

    The COPY runs under a savepoint: a unique violation (a stored key, a concurrent writer's, or a key
    repeated in `rows`) undoes it and leaves the caller's transaction as it was, for an upsert instead.
    A first load or a backfill of new keys thus costs one raw COPY (bench_embed (b): staging and merging
    makes a 50k-row write ~0.7 of that); rows that conflict cost the failed COPY on top of the upsert.
    """
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        conn.execute("SELECT 1")  # open the caller's transaction, so that the block below is a savepoint in it
    try:
        with conn.transaction():
            return copy_rows(conn, target.table, target, rows)
    except psycopg.errors.UniqueViolation:
        return None
