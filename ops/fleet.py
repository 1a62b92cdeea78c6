"""Background worker processes of the embedded default: one per queue, logs and pids under the state dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ops.stack import write_record
from shared.names import ALL_QUEUES, QUEUE_CHUNK, QUEUE_EMBED
from shared.settings import Settings, read_stack_record


@dataclass(frozen=True)
class PoolChoice:
    """The Celery pool and concurrency that suit a stage."""

    pool: str
    concurrency: int


def pool_for(queue: str, settings: Settings) -> PoolChoice:
    """Prefork for CPU chunking; threads for HTTP-bound LLM calls ((slots + queue depth) per endpoint ×
    endpoints, so every slot of every host stays busy); one thread for embedding (the model uses every
    core itself and batches are buffered in-process)."""
    if queue == QUEUE_CHUNK:
        return PoolChoice("prefork", max(1, min(2, os.cpu_count() or 1)))
    if queue == QUEUE_EMBED:
        return PoolChoice("threads", 1)
    tier = settings.tiers.get(queue.split(".", 1)[1])
    return PoolChoice("threads", (tier.concurrency + tier.queue_depth) * max(1, len(tier.endpoints)))


def worker_argv(queue: str, settings: Settings, *, node_name: str | None = None, loglevel: str = "INFO") -> list[str]:
    """Arguments for `celery -A workers worker` consuming one queue."""
    choice = pool_for(queue, settings)
    # The embed worker buffers whole batches in-process (celery-batches): it must be allowed to hold them.
    prefetch = 2 * settings.embedding.batch_size if queue == QUEUE_EMBED else settings.broker.llm_prefetch_multiplier
    return [
        "-A", "workers", "worker", "-Q", queue, "-n", node_name or f"{queue}@%h",
        "--pool", choice.pool, "--concurrency", str(choice.concurrency), "--loglevel", loglevel,
        "--prefetch-multiplier", str(prefetch), "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def start_workers(settings: Settings) -> list[str]:
    """Start one background worker per queue that has none running; returns the queues started."""
    record = read_stack_record(settings.stack_file)
    workers: dict[str, int] = {q: int(p) for q, p in dict(record.get("workers") or {}).items()}  # type: ignore[call-overload]
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAGFLEET_STATE_DIR": str(settings.state_dir), "PYTHONUNBUFFERED": "1"}
    started = []
    for queue in ALL_QUEUES:
        if queue in workers and _alive(workers[queue]):
            continue
        log_path = log_dir / f"worker-{queue}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", *worker_argv(queue, settings)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal that ran `up` does not reach the fleet
            )
        workers[queue] = proc.pid
        started.append(queue)
    write_record(settings, {**read_stack_record(settings.stack_file), "workers": workers})
    return started


def running_workers(settings: Settings) -> dict[str, int]:
    """queue -> pid of the background workers still alive."""
    record = read_stack_record(settings.stack_file)
    workers = dict(record.get("workers") or {})  # type: ignore[call-overload]
    return {q: int(p) for q, p in workers.items() if _alive(int(p))}


def stop_workers(settings: Settings, *, timeout_s: float = 60.0) -> list[str]:
    """SIGTERM every background worker (a running task finishes or is handed back), then wait; SIGKILL stragglers."""
    alive = running_workers(settings)
    for pid in alive.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(_alive(pid) for pid in alive.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in alive.values():
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    record = read_stack_record(settings.stack_file)
    if record:
        write_record(settings, {k: v for k, v in record.items() if k != "workers"})
    return sorted(alive)


def worker_logs(settings: Settings) -> Path:
    """Where the background workers write their logs."""
    return settings.state_dir / "logs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0); reap it if it is ours.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
