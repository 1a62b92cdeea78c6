"""The background thread of a GPU-pinned worker that samples its GPU.

Every `telemetry.interval_s` it reads one `GpuSample` and
- writes it to Redis as the GPU's latest sample, `ragfleet:gpu:<host>:<uuid>`, with a TTL
  (`telemetry.redis_ttl_s`): a worker that dies stops refreshing it and the key expires, so
  `status` never shows a stale GPU as live;
- appends it to the Postgres history, pruned of rows older than `telemetry.history_days`;
- hands it to listeners (back-pressure);
- raises the VRAM peaks of the enrichments running now (`measure_peak`).

The sampler takes plain callables and a Redis-like object (`set(key, value, ex=...)`), not our
settings or pools, so unit tests drive it with in-memory sinks; `database_sinks()` binds the real
history functions. Telemetry must never take a worker down: every failure (NVML, Redis, Postgres,
a listener) is logged once per kind and the loop goes on.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from shared.db import Database
from shared.db.telemetry import insert_sample, prune_samples
from shared.redact import redact_text
from workers.gpu.nvml import GpuInfo, GpuReadError, Nvml
from workers.gpu.sample import GpuSample

log = logging.getLogger(__name__)

GPU_KEY_PREFIX = "ragfleet:gpu:"


def redis_key(host: str, uuid: str) -> str:
    """The Redis key of one GPU's latest sample: `ragfleet:gpu:<host>:<uuid>`."""
    return f"{GPU_KEY_PREFIX}{host}:{uuid}"


class RedisSink(Protocol):
    """The one Redis call the sampler makes (redis.Redis fits)."""

    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...


def own_pids(root: int | None = None) -> set[int]:
    """This process and its descendants (a prefork pool's children), from /proc; just itself elsewhere.

    NVML reports host PIDs: inside a container with its own PID namespace none of these match,
    and the worker's own VRAM reads as 0.
    """
    start = os.getpid() if root is None else root
    found = {start}
    pending = [start]
    while pending:
        pid = pending.pop()
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def nvml_reader(nvml: Nvml, gpu: GpuInfo, pids: Callable[[], set[int]] = own_pids) -> Callable[[], GpuSample]:
    """The `read` callable of a sampler for one pinned GPU."""
    return lambda: nvml.sample(gpu, pids=pids())


def database_sinks(db: Database, host: str, history_days: int) -> tuple[Callable[[GpuSample], None], Callable[[], int]]:
    """The sampler's `history` and `prune` callables, writing through `shared.db.telemetry`."""

    def history(sample: GpuSample) -> None:
        with db.connection() as conn:
            insert_sample(conn, host, sample)

    def prune() -> int:
        with db.connection() as conn:
            return prune_samples(conn, history_days)

    return history, prune


@dataclass
class PeakWindow:
    """The highest framebuffer use seen while a `measure_peak()` block ran (None: no reading)."""

    peak_mib: int | None = None


class TelemetrySampler:
    """Samples one GPU on a daemon thread until `stop()`; see the module docstring."""

    def __init__(
        self,
        read: Callable[[], GpuSample],
        *,
        host: str,
        interval_s: float,
        redis: RedisSink | None = None,
        redis_ttl_s: int = 60,
        worker: str | None = None,
        history: Callable[[GpuSample], None] | None = None,
        prune: Callable[[], int] | None = None,
        prune_every_s: float = 3600.0,
        listeners: Sequence[Callable[[GpuSample], object]] = (),
        sample_peak_edges: bool = True,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._read = read
        self.host = host
        self.interval_s = interval_s
        self._redis = redis
        self._redis_ttl_s = redis_ttl_s
        self._worker = worker
        self._history = history
        self._prune = prune
        self._prune_every_s = prune_every_s
        self._listeners = list(listeners)
        self._sample_peak_edges = sample_peak_edges
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest: GpuSample | None = None
        self._peaks: dict[int, int | None] = {}
        self._tokens = itertools.count(1)
        self._next_prune = 0.0
        self.errors: dict[str, int] = {}
        """How often each kind of failure happened (`read:GpuIsLost`, `redis:ConnectionError`, ...)."""
        self.samples = 0
        """Samples taken by the loop (not counting the edges of `measure_peak`)."""

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        """Start the daemon thread (at most once)."""
        if self._thread is not None:
            raise RuntimeError("the telemetry sampler was already started")
        self._thread = threading.Thread(target=self._run, name="gpu-telemetry", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to finish and wait for it (up to `timeout_s`)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def latest(self) -> GpuSample | None:
        """The last sample the loop took."""
        return self._latest

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # a slow cycle (a database timeout): start again from now, don't burst
                next_at = time.monotonic()
                delay = 0.0
            if self._stop.wait(delay):
                break

    def sample_once(self) -> GpuSample | None:
        """One cycle: read, publish, store, notify, prune when due. None when the GPU could not be read."""
        try:
            sample = self._read()
        except Exception as exc:
            self._failed("read", exc)
            return None
        self.samples += 1
        self._latest = sample
        self._raise_peaks(sample)
        if self._redis is not None:
            redis = self._redis
            self._guard(
                "redis",
                lambda: redis.set(
                    redis_key(self.host, sample.gpu_uuid),
                    sample.to_redis(host=self.host, worker=self._worker),
                    ex=self._redis_ttl_s,
                ),
            )
        if self._history is not None:
            history = self._history
            self._guard("history", lambda: history(sample))
        for listener in self._listeners:
            self._guard("listener", partial(listener, sample))
        if self._prune is not None and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + self._prune_every_s
            prune = self._prune
            self._guard("prune", prune)
        return sample

    def _guard(self, step: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            self._failed(step, exc)

    def _failed(self, step: str, exc: Exception) -> None:
        kind = f"{step}:{exc.kind if isinstance(exc, GpuReadError) else type(exc).__name__}"
        count = self.errors.get(kind, 0) + 1
        self.errors[kind] = count
        if count == 1:
            log.warning(
                "gpu telemetry: %s failed (%s: %s); logged once, sampling goes on",
                step,
                type(exc).__name__,
                redact_text(str(exc)),
            )

    # ------------------------------------------------------------------ VRAM peaks

    def start_peak(self) -> int:
        """Start watching the framebuffer peak; returns a token for `stop_peak`."""
        token = next(self._tokens)
        with self._lock:
            self._peaks[token] = None
        if self._sample_peak_edges:
            self._edge_sample()
        return token

    def stop_peak(self, token: int) -> int | None:
        """The highest `fb_used_mib` seen since `start_peak` returned `token` (None: no reading)."""
        if self._sample_peak_edges:
            self._edge_sample()
        with self._lock:
            return self._peaks.pop(token, None)

    @contextmanager
    def measure_peak(self) -> Iterator[PeakWindow]:
        """`with sampler.measure_peak() as window: ...` then `window.peak_mib` is the enrichment's gpu_vram_peak_mib.

        The peak is the whole GPU's framebuffer use (DCGM_FI_DEV_FB_USED), not the worker's own:
        an LLM worker's VRAM belongs to its model server. With `sample_peak_edges` a reading is
        also taken at both ends, so a task shorter than the interval still gets a value.
        """
        window = PeakWindow()
        token = self.start_peak()
        try:
            yield window
        finally:
            window.peak_mib = self.stop_peak(token)

    def _edge_sample(self) -> None:
        try:
            sample = self._read()
        except Exception:  # the loop logs read failures; a missing edge only lowers precision
            return
        self._raise_peaks(sample)

    def _raise_peaks(self, sample: GpuSample) -> None:
        used = sample.fb_used_mib
        if used is None:
            return
        with self._lock:
            for token, peak in self._peaks.items():
                if peak is None or used > peak:
                    self._peaks[token] = used
