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


def delete_dead_letters(conn: psycopg.Connection, stages: tuple[str, ...], keys: list[str]) -> int:
    """Forget the dead letters of these keys (their message succeeded, or is queued again); how many went."""
    cur = conn.execute("DELETE FROM dead_letters WHERE stage = ANY(%s) AND key = ANY(%s)", (list(stages), keys))
    return cur.rowcount


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters `ragfleet requeue-dead` takes."""

    stage: str | None = None
    queue: str | None = None
    repo: str | None = None


def take_dead_letters(conn: psycopg.Connection, where: DeadLetterFilter) -> list[dict[str, Any]]:
    """The matching dead letters, locked until the transaction ends (two requeues never publish one twice)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, stage, key, task_name, queue, payload FROM dead_letters"
            " WHERE (%(stage)s::text IS NULL OR stage = %(stage)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)"
            " AND (%(repo)s::text IS NULL OR repo = %(repo)s) ORDER BY id FOR UPDATE SKIP LOCKED",
            {"stage": where.stage, "queue": where.queue, "repo": where.repo},
        )
        return list(cur.fetchall())


def delete_dead_letter_ids(conn: psycopg.Connection, ids: list[int]) -> None:
    """Remove dead letters whose messages were published again."""
    conn.execute("DELETE FROM dead_letters WHERE id = ANY(%s)", (ids,))


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
