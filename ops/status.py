"""`ragfleet status`: queue depths, workers online, row counts and per-tier accounting, gathered through
the broker, Celery's control API and the database; and the GPUs: each one's latest telemetry and the
workers' back-pressure pauses.

The latest sample of each GPU lives in Redis (`ragfleet:gpu:<host>:<uuid>`, expiring when its worker
stops refreshing it). With a broker that is not Redis there is no such key: status then shows each GPU's
newest row of the Postgres history taken within `telemetry.redis_ttl_s`, and says so.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis
from celery import Celery

from ops.queues import queue_depths
from shared.db import connect
from shared.db.accounting import dead_letter_counts, tier_accounting
from shared.db.consumers import drained_queues
from shared.db.stats import table_counts, tier_distribution
from shared.db.telemetry import latest_event_per_queue, latest_events
from shared.redact import redact_url
from shared.settings import Settings
from workers.gpu.sample import GpuSample
from workers.gpu.telemetry import GPU_KEY_PREFIX

# NVML's clocks-event (throttle) reason bits, named as nvmlClocksEventReason* without the prefix.
THROTTLE_REASONS = {
    0x1: "GpuIdle",
    0x2: "ApplicationsClocksSetting",
    0x4: "SwPowerCap",
    0x8: "HwSlowdown",
    0x10: "SyncBoost",
    0x20: "SwThermalSlowdown",
    0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown",
    0x100: "DisplayClockSetting",
}
HISTORY_NOTE = (
    "the broker is not Redis, where the latest GPU samples live: showing each GPU's newest row of the "
    "Postgres history (gpu_samples) from the last telemetry.redis_ttl_s seconds"
)


def workers_online(app: Celery, timeout_s: float = 1.0) -> dict[str, list[str]]:
    """worker name -> the queues it consumes, for every worker that answers in time."""
    return _queue_names(app.control.inspect(timeout=timeout_s).active_queues() or {})


def _queue_names(active_queues: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """worker -> the names of the queues it consumes, from an `active_queues` reply."""
    return {name: sorted(q["name"] for q in queues) for name, queues in active_queues.items()}


@dataclass(frozen=True)
class WorkerReplies:
    """What the workers answered to Celery's `inspect` (each: worker name -> its reply)."""

    queues: dict[str, list[str]]
    stats: dict[str, dict[str, Any]]
    active: dict[str, list[Any]]


def inspect_workers(app: Celery, timeout_s: float = 1.0) -> WorkerReplies:
    """Queues, stats and active tasks of every worker that answers, asked at once (one timeout, not three)."""
    calls = {"active_queues": None, "stats": None, "active": None}
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = {name: pool.submit(getattr(app.control.inspect(timeout=timeout_s), name)) for name in calls}
        replies = {name: future.result() or {} for name, future in futures.items()}
    return WorkerReplies(
        queues=_queue_names(replies["active_queues"]),
        stats=replies["stats"],
        active=replies["active"],
    )


def worker_rows(
    replies: WorkerReplies,
    gpu_samples: list[dict[str, Any]],
    pressure: list[dict[str, Any]],
    drained: dict[str, list[str]],
) -> dict[str, dict[str, Any]]:
    """worker -> host, tiers (or stages), GPU, pool, concurrency, active tasks, the queues it consumes, and
    why it is paused where it is: `gpu` (its back-pressure) or `drain` (an operator's drain) per queue."""
    gpus = {g["worker"]: {"index": g["gpu_index"], "uuid": g["gpu_uuid"]} for g in gpu_samples if g.get("worker")}
    paused: dict[str, dict[str, str]] = {}
    for b in pressure:
        if b["state"] == "paused":
            paused.setdefault(b["worker"], {})[b["queue"]] = "gpu"
    for worker, queues in drained.items():
        for queue in queues:
            paused.setdefault(worker, {}).setdefault(queue, "drain")
    rows = {}
    for name in sorted(set(replies.queues) | set(replies.stats)):
        queues = replies.queues.get(name, [])
        pool = replies.stats.get(name, {}).get("pool", {})
        rows[name] = {
            "host": name.partition("@")[2],
            "tiers": sorted({q.partition(".")[2] or q for q in [*queues, *paused.get(name, {})]}),
            "gpu": gpus.get(name),
            "pool": _pool_name(str(pool.get("implementation", ""))),
            "concurrency": pool.get("max-concurrency"),
            "active": len(replies.active.get(name, [])),
            "queues": queues,
            "paused": paused.get(name, {}),
        }
    return rows


def _pool_name(implementation: str) -> str | None:
    """`celery.concurrency.thread:TaskPool` -> `threads` (the name `--pool` takes)."""
    module = implementation.partition(":")[0].rpartition(".")[2]
    return {"thread": "threads", "prefork": "prefork", "solo": "solo", "eventlet": "eventlet", "gevent": "gevent"}.get(
        module, module or None
    )


def gather(settings: Settings, app: Celery) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the `--json` output)."""
    replies = inspect_workers(app)
    with connect(settings.require_database_url()) as conn:
        counts = table_counts(conn)
        tiers = tier_distribution(conn)
        accounting = tier_accounting(conn)
        dead = dead_letter_counts(conn)
        gpus = gpu_status(settings, conn, replies.queues)
        drained = drained_queues(conn)
    return {
        "broker": redact_url(settings.require_broker_url()),
        "database": redact_url(settings.require_database_url()),
        "queues": {name: asdict(depth) for name, depth in queue_depths(app).items()},
        "workers": worker_rows(replies, gpus["latest"], gpus["back_pressure"], drained),
        "counts": counts,
        "start_tiers": tiers,
        "tiers": accounting,
        "dead_letters": dead,
        "gpus": gpus,
    }


# ---------------------------------------------------------------- GPUs


@dataclass(frozen=True)
class LatestGpuSamples:
    """Each GPU's latest sample: `GpuSample.to_dict()`'s fields, plus host, worker (None from Postgres),
    age_s (seconds since it was taken), vram_used_pct and throttle (the reasons' names)."""

    source: str
    """`redis`, or `postgres` when the broker is not Redis."""
    samples: list[dict[str, Any]]
    note: str | None = None


def gpu_status(settings: Settings, conn: psycopg.Connection, workers: dict[str, list[str]]) -> dict[str, Any]:
    """The `gpus` section: latest samples, recent pause/resume events, and whether each worker is paused now."""
    latest = latest_gpu_samples(settings, conn)
    events = [_event(e.worker, e.queue, e.kind, e.reason, e.at) for e in latest_events(conn, limit=20)]
    return {
        "source": latest.source,
        "note": latest.note,
        "latest": latest.samples,
        "events": events,
        "back_pressure": back_pressure(conn, workers),
    }


def latest_gpu_samples(settings: Settings, conn: psycopg.Connection | None = None) -> LatestGpuSamples:
    """From Redis when it is the broker; else from the Postgres history (`conn`, or a connection of its own)."""
    broker_url = settings.require_broker_url()
    if broker_url.startswith(("redis://", "rediss://")):
        return LatestGpuSamples("redis", _from_redis(broker_url))
    if conn is None:
        with connect(settings.require_database_url()) as own:
            return latest_gpu_samples(settings, own)
    return LatestGpuSamples("postgres", _from_history(conn, settings.telemetry.redis_ttl_s), HISTORY_NOTE)


def back_pressure(conn: psycopg.Connection, workers: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Per worker and queue with pause/resume events: its latest event and `state`, checked against `workers`
    (those online, with the queues they consume): `paused` (latest event a pause, not consuming the queue),
    `consuming` (also a worker restarted since its pause), `stopped` (not consuming, latest event a resume:
    an operator's drain) or `offline`."""
    states = []
    for e in latest_event_per_queue(conn):
        if e.worker not in workers:
            state = "offline"
        elif e.queue in workers[e.worker]:
            state = "consuming"
        else:
            state = "paused" if e.kind == "pause" else "stopped"
        states.append(
            {**_event(e.worker, e.queue, e.kind, e.reason, e.at), "state": state, "paused": state == "paused"}
        )
    return states


def throttle_names(mask: int | None) -> list[str]:
    """The names of the reasons set in NVML's throttle bitmask (`0x…` for a bit without a name)."""
    if not mask:
        return []
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    unknown = mask & ~sum(THROTTLE_REASONS)
    return names + ([hex(unknown)] if unknown else [])


def _from_redis(broker_url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=10)
    keys = sorted(client.scan_iter(match=GPU_KEY_PREFIX + "*", count=1000))
    samples = []
    for raw in client.mget(keys) if keys else []:
        if raw is None:  # expired between SCAN and MGET
            continue
        try:
            data = json.loads(raw)
            sample = GpuSample.from_dict(data)
        except (ValueError, TypeError, KeyError):
            continue  # not a sample of ours
        samples.append(_describe(sample, data.get("host"), data.get("worker")))
    return sorted(samples, key=lambda s: (str(s["host"]), s["gpu_index"], s["gpu_uuid"]))


def _from_history(conn: psycopg.Connection, max_age_s: int) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT DISTINCT ON (host, gpu_uuid) host, gpu_uuid, gpu_index, name, sampled_at, fb_used_mib, fb_free_mib,"
        " fb_total_mib, gpu_util_pct, mem_copy_util_pct, gpu_temp_c, memory_temp_c, power_w, energy_mj,"
        " throttle_reasons, process_vram_mib FROM gpu_samples"
        " WHERE sampled_at > now() - make_interval(secs => %s::integer)"
        " ORDER BY host, gpu_uuid, sampled_at DESC",
        (max_age_s,),
    )
    columns = [c.name for c in cur.description or []]
    samples = []
    for row in cur.fetchall():
        data = dict(zip(columns, row, strict=True))
        host = data.pop("host")
        samples.append(_describe(GpuSample(**data), host, None))
    return sorted(samples, key=lambda s: (str(s["host"]), s["gpu_index"], s["gpu_uuid"]))


def _describe(sample: GpuSample, host: str | None, worker: str | None) -> dict[str, Any]:
    pct = sample.vram_used_pct
    return {
        **sample.to_dict(),
        "host": host,
        "worker": worker,
        "age_s": round((datetime.now(UTC) - sample.sampled_at).total_seconds(), 1),
        "vram_used_pct": None if pct is None else round(pct, 1),
        "throttle": throttle_names(sample.throttle_reasons),
    }


def _event(worker: str, queue: str, kind: str, reason: str, at: datetime | None) -> dict[str, Any]:
    return {"worker": worker, "queue": queue, "kind": kind, "reason": reason, "at": at.isoformat() if at else None}
