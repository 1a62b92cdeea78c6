"""GPU telemetry history and workers' pause/resume events (tables of migration 0002).

Samples arrive every few seconds from each GPU-pinned worker, so the history is pruned by age
(`telemetry.history_days`); the latest sample per GPU lives in Redis, not here. A sample is taken
as any object with the `GpuSample` attributes (a Protocol), so this shared module does not import
the workers package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import psycopg

EventKind = Literal["pause", "resume"]


class SampleRow(Protocol):
    """What `insert_sample` reads: the fields of `workers.gpu.sample.GpuSample`."""

    @property
    def gpu_index(self) -> int: ...
    @property
    def gpu_uuid(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sampled_at(self) -> datetime: ...
    @property
    def fb_used_mib(self) -> int | None: ...
    @property
    def fb_free_mib(self) -> int | None: ...
    @property
    def fb_total_mib(self) -> int | None: ...
    @property
    def gpu_util_pct(self) -> int | None: ...
    @property
    def mem_copy_util_pct(self) -> int | None: ...
    @property
    def gpu_temp_c(self) -> int | None: ...
    @property
    def memory_temp_c(self) -> int | None: ...
    @property
    def power_w(self) -> float | None: ...
    @property
    def energy_mj(self) -> int | None: ...
    @property
    def throttle_reasons(self) -> int | None: ...
    @property
    def process_vram_mib(self) -> int | None: ...


@dataclass(frozen=True)
class WorkerEvent:
    """A worker stopped (`pause`) or started again (`resume`) taking tasks from a queue, and why."""

    worker: str
    queue: str
    kind: EventKind
    reason: str
    at: datetime | None = None
    """When it happened; None means "now" (the database's clock) when recording."""


def insert_sample(conn: psycopg.Connection, host: str, sample: SampleRow) -> None:
    """Append one GPU sample to the history."""
    conn.execute(
        "INSERT INTO gpu_samples (host, gpu_uuid, gpu_index, name, sampled_at, fb_used_mib, fb_free_mib,"
        " fb_total_mib, gpu_util_pct, mem_copy_util_pct, gpu_temp_c, memory_temp_c, power_w, energy_mj,"
        " throttle_reasons, process_vram_mib) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            host,
            sample.gpu_uuid,
            sample.gpu_index,
            sample.name,
            sample.sampled_at,
            sample.fb_used_mib,
            sample.fb_free_mib,
            sample.fb_total_mib,
            sample.gpu_util_pct,
            sample.mem_copy_util_pct,
            sample.gpu_temp_c,
            sample.memory_temp_c,
            sample.power_w,
            sample.energy_mj,
            sample.throttle_reasons,
            sample.process_vram_mib,
        ),
    )


def prune_samples(conn: psycopg.Connection, older_than_days: int) -> int:
    """Delete GPU samples taken more than `older_than_days` ago; how many went."""
    cur = conn.execute(
        "DELETE FROM gpu_samples WHERE sampled_at < now() - make_interval(days => %s::integer)", (older_than_days,)
    )
    return cur.rowcount


def record_worker_event(conn: psycopg.Connection, event: WorkerEvent) -> None:
    """Append one pause or resume to the events `ragfleet status` shows."""
    conn.execute(
        "INSERT INTO worker_events (worker, queue, kind, reason, at)"
        " VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now()))",
        (event.worker, event.queue, event.kind, event.reason, event.at),
    )


def latest_events(conn: psycopg.Connection, limit: int = 20) -> list[WorkerEvent]:
    """The newest pause/resume events, newest first."""
    rows = conn.execute(
        "SELECT worker, queue, kind, reason, at FROM worker_events ORDER BY at DESC, id DESC LIMIT %s", (limit,)
    ).fetchall()
    return [WorkerEvent(worker, queue, kind, reason, at) for worker, queue, kind, reason, at in rows]


def latest_event_per_queue(conn: psycopg.Connection) -> list[WorkerEvent]:
    """Each worker's latest pause or resume on each queue it ever paused."""
    rows = conn.execute(
        "SELECT DISTINCT ON (worker, queue) worker, queue, kind, reason, at FROM worker_events"
        " ORDER BY worker, queue, at DESC, id DESC"
    ).fetchall()
    return [WorkerEvent(worker, queue, kind, reason, at) for worker, queue, kind, reason, at in rows]


def held_by_gpu(conn: psycopg.Connection, queue: str, workers: Sequence[str]) -> list[str]:
    """Those of `workers` whose back-pressure holds `queue` stopped now: their latest event on it is a pause."""
    return sorted(
        e.worker for e in latest_event_per_queue(conn) if e.queue == queue and e.worker in workers and e.kind == "pause"
    )


def prune_worker_events(conn: psycopg.Connection, older_than_days: int) -> int:
    """Delete pause/resume events older than `older_than_days`; how many went."""
    cur = conn.execute(
        "DELETE FROM worker_events WHERE at < now() - make_interval(days => %s::integer)", (older_than_days,)
    )
    return cur.rowcount
