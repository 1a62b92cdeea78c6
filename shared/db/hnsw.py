"""Backfills without an HNSW index: drop it, load, rebuild it with the same definition (pgvector's advice).

Inserting into a table that has an HNSW index updates the graph row by row (DESIGN.md: ≈ 1.5k
384-d rows/s against ≈ 65k without it); building the index once after the load is far cheaper,
given enough `maintenance_work_mem` for the graph (15 s for 50k rows at 1GB, 43 s at 64MB).

The drop, the load and the rebuild are three transactions, so that nobody waits on the whole
backfill: searches meanwhile fall back to an exact scan (slower, still correct), and concurrent
writers go on inserting, then wait (not fail) while `CREATE INDEX` holds its SHARE lock for the
build. Backfills of one table take turns under an advisory lock. Each dropped definition is
recorded in `dropped_indexes` before the drop and removed with the rebuild, so an index lost to a
crash between the two is rebuilt by `restore_dropped_indexes` (run by the next backfill and by
every migrate). Writes below `rebuild_index_rows` rows go straight into the indexed table.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import psycopg
from psycopg import sql

DEFAULT_BUILD_MEMORY = "1GB"


def hnsw_indexes(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """index name -> definition (as pg_indexes gives it) of every HNSW index on `table`."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = %s AND indexdef ILIKE '%% USING hnsw %%'",
        (table,),
    )
    return {name: definition for name, definition in rows}


@contextmanager
def hnsw_dropped(
    conn: psycopg.Connection, table: str, *, build_memory: str = DEFAULT_BUILD_MEMORY
) -> Iterator[dict[str, str]]:
    """Drop `table`'s HNSW indexes (committed), let the caller load, then commit the load and rebuild them.

    The caller's load runs in its own transaction, committed on leaving the block (or rolled back if
    the block raises); the indexes are rebuilt either way. Yields the dropped definitions.
    """
    conn.commit()  # whatever the caller had open is its own business, not part of the backfill
    conn.execute("SELECT pg_advisory_lock(%s)", (_table_lock(table),))
    conn.commit()
    try:
        restore_dropped_indexes(conn, table, build_memory=build_memory)
        with conn.transaction():
            dropped = hnsw_indexes(conn, table)
            for name, definition in dropped.items():
                conn.execute(
                    "INSERT INTO dropped_indexes (index_name, table_name, definition) VALUES (%s, %s, %s)",
                    (name, table, definition),
                )
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        try:
            yield dropped
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            restore_dropped_indexes(conn, table, build_memory=build_memory)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_table_lock(table),))
        conn.commit()


def restore_dropped_indexes(
    conn: psycopg.Connection, table: str | None = None, *, build_memory: str = DEFAULT_BUILD_MEMORY
) -> list[str]:
    """Rebuild the indexes recorded in `dropped_indexes` (of `table`, or all) whose table no backfill holds now."""
    restored = []
    query = "SELECT index_name, table_name, definition FROM dropped_indexes"
    pending = conn.execute(query + " WHERE table_name = %s" if table else query, (table,) if table else ()).fetchall()
    conn.commit()
    for name, table_name, definition in pending:
        # A running backfill holds its table's lock (re-entrant for the session that holds it): leave its index be.
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_table_lock(table_name),)).fetchone()
        if not (row and row[0]):
            continue
        try:
            with conn.transaction():
                # Only for this build: a large maintenance_work_mem on every session would be a memory hazard.
                conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (build_memory,))
                exists = "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = %s"
                if not conn.execute(exists, (name,)).fetchone():
                    conn.execute(definition.encode())
                conn.execute("DELETE FROM dropped_indexes WHERE index_name = %s", (name,))
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_table_lock(table_name),))
            conn.commit()
        restored.append(name)
    return restored


def _table_lock(table: str) -> int:
    """The advisory lock id that backfills of `table` take turns under."""
    return zlib.crc32(f"ragfleet-hnsw:{table}".encode())


def hnsw_deferred_if_large(
    conn: psycopg.Connection, table: str, rows: int, *, rebuild_index_rows: int, build_memory: str
) -> AbstractContextManager[object]:
    """`hnsw_dropped` for a write of at least `rebuild_index_rows` rows; otherwise nothing (straight in)."""
    if rows >= rebuild_index_rows:
        return hnsw_dropped(conn, table, build_memory=build_memory)
    return nullcontext()
