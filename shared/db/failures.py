"""Attempts, dead letters and ragfleet's own redelivery counter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class DeadLetter:
    """A message no retry, host or tier could handle, kept whole so it can be published again."""

    stage: str
    key: str
    task_name: str
    queue: str
    error_class: str
    reason: str
    payload: dict[str, Any]
    history: list[dict[str, Any]]
    repo: str | None = None
    path: str | None = None


def record_attempt(
    conn: psycopg.Connection,
    *,
    stage: str,
    key: str,
    ok: bool,
    tier: str = "",
    host: str = "",
    error_class: str = "",
    message: str = "",
    duration_ms: int = 0,
) -> None:
    """Append one attempt to the history operators read."""
    conn.execute(
        "INSERT INTO attempts (stage, key, tier, host, ok, error_class, message, duration_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (stage, key, tier, host, ok, error_class, message, duration_ms),
    )


def upsert_dead_letter(conn: psycopg.Connection, letter: DeadLetter) -> None:
    """Dead-letter a message; the same message failing again updates its row instead of adding one."""
    conn.execute(
        "INSERT INTO dead_letters (stage, key, task_name, queue, repo, path, error_class, reason, payload,"
        " history) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (stage, key) DO UPDATE SET task_name = EXCLUDED.task_name, queue = EXCLUDED.queue,"
        " error_class = EXCLUDED.error_class, reason = EXCLUDED.reason, payload = EXCLUDED.payload,"
        " history = EXCLUDED.history, created_at = now()",
        (
            letter.stage,
            letter.key,
            letter.task_name,
            letter.queue,
            letter.repo,
            letter.path,
            letter.error_class,
            letter.reason,
            Jsonb(letter.payload),
            Jsonb(letter.history),
        ),
    )


def clear_dead_letter(conn: psycopg.Connection, stage: str, key: str) -> None:
    """Forget a dead letter once its message has succeeded."""
    conn.execute("DELETE FROM dead_letters WHERE stage = %s AND key = %s", (stage, key))


def dead_letters(conn: psycopg.Connection, stage: str | None = None) -> list[dict[str, Any]]:
    """Dead letters, oldest first, optionally of one stage."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM dead_letters WHERE %(stage)s::text IS NULL OR stage = %(stage)s ORDER BY id",
            {"stage": stage},
        )
        return list(cur.fetchall())


def count_delivery(conn: psycopg.Connection, task_id: str) -> int:
    """How many times this task id has now been delivered (this delivery included)."""
    row = conn.execute(
        "INSERT INTO deliveries (task_id, count) VALUES (%s, 1)"
        " ON CONFLICT (task_id) DO UPDATE SET count = deliveries.count + 1 RETURNING count",
        (task_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def forget_delivery(conn: psycopg.Connection, task_id: str) -> None:
    """A task that finished (well or badly) needs no redelivery count any more."""
    conn.execute("DELETE FROM deliveries WHERE task_id = %s", (task_id,))
