"""Paused consumers: the workers `ragfleet drain` told to stop consuming a queue, kept until `resume`.

Kept in the database rather than a local file because the operator who resumes may be on another
host, or come back much later; writes are idempotent so a drain can safely be run again.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg


def record_paused(conn: psycopg.Connection, queue: str, workers: Iterable[str]) -> None:
    """Remember that these workers stopped consuming `queue` (a worker already recorded keeps its paused_at)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO paused_consumers (queue, worker) VALUES (%s, %s) ON CONFLICT (queue, worker) DO NOTHING",
            [(queue, worker) for worker in workers],
        )


def paused_workers(conn: psycopg.Connection, queue: str) -> list[str]:
    """The workers recorded as stopped on `queue`, by name."""
    rows = conn.execute("SELECT worker FROM paused_consumers WHERE queue = %s ORDER BY worker", (queue,)).fetchall()
    return [str(row[0]) for row in rows]


def drained_queues(conn: psycopg.Connection) -> dict[str, list[str]]:
    """worker -> the queues a drain stopped on it."""
    drained: dict[str, list[str]] = {}
    for queue, worker in conn.execute("SELECT queue, worker FROM paused_consumers ORDER BY worker, queue"):
        drained.setdefault(str(worker), []).append(str(queue))
    return drained


def forget_paused(conn: psycopg.Connection, queue: str, workers: Iterable[str]) -> int:
    """Drop these workers' records for `queue`; returns how many rows went."""
    names = list(workers)
    if not names:
        return 0
    cur = conn.execute("DELETE FROM paused_consumers WHERE queue = %s AND worker = ANY(%s)", (queue, names))
    return cur.rowcount
