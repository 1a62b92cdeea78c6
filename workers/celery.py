"""The Celery app of the worker fleet: `celery -A workers worker -Q chunk` finds it here.

Settings are loaded once, here, at the workers' entry point. An embed worker buffers a whole
batch of messages before it calls the model, so run it with a prefetch of about twice
`embedding.batch_size` (`ragfleet worker --queues embed` does; with plain celery pass
`--prefetch-multiplier 128`).

A GPU-pinned worker (`settings.worker_gpu`, which `ragfleet worker --gpu G` sets along with
CUDA_VISIBLE_DEVICES) samples its GPU from the moment it is ready until it shuts down, in its main
process only (prefork children never sample): the latest sample to Redis, history to Postgres, and
back-pressure that stops and restarts its queue consumers (DESIGN.md § "GPU-pinned workers and
telemetry"). With no GPU or no NVML it logs `gpu: none (<reason>)` once and works on without.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import redis
from celery import Celery, signals

from shared.celery_config import make_celery
from shared.db.consumers import paused_workers, record_paused
from shared.db.telemetry import WorkerEvent, prune_worker_events, record_worker_event
from shared.redact import redact_text
from shared.settings import load_settings
from workers import shutdown
from workers.context import WorkerContext, get_context, install_context
from workers.gpu.backpressure import BackPressure, ConsumerGate
from workers.gpu.nvml import start_nvml
from workers.gpu.telemetry import RedisSink, TelemetrySampler, database_sinks, nvml_reader

log = logging.getLogger(__name__)

settings = load_settings()
app = make_celery(settings, name="workers")
install_context(settings)

import workers.tasks  # noqa: E402,F401  (registers the tasks on `app`)


@signals.worker_ready.connect
def _gpu_telemetry_on(sender: Any, **_: Any) -> None:
    """Sent once, in the main process, when the consumer is ready (`sender` is the consumer)."""
    start_gpu_telemetry(get_context(), app, sender.hostname, sorted(sender.app.amqp.queues.consume_from))


@signals.worker_shutting_down.connect
def _hand_back_on_stop(**_: Any) -> None:
    """Sent in the main process when a warm shutdown (SIGTERM) begins: running enrichments hand their span back."""
    shutdown.mark_stopping()


@signals.worker_shutdown.connect
def _gpu_telemetry_off(**_: Any) -> None:
    stop_gpu_telemetry(get_context())


def start_gpu_telemetry(ctx: WorkerContext, celery_app: Celery, worker: str, queues: Sequence[str]) -> None:
    """Sample `ctx.settings.worker_gpu` into Redis and Postgres, with back-pressure on `queues` of node `worker`.

    Sets `ctx.gpu_sampler`; leaves it None, after one `gpu: none` warning, when the GPU cannot be found
    or read. Nothing here stops the worker: it works on without telemetry.
    """
    spec = ctx.settings.worker_gpu
    if spec is None or ctx.gpu_sampler is not None:
        return
    telemetry = ctx.settings.telemetry
    nvml = start_nvml(telemetry.nvml_module)
    if isinstance(nvml, str):  # a GPU was asked for: a warning, not open_nvml's info line
        log.warning("gpu: none (%s); telemetry and back-pressure are off", nvml)
        return
    try:
        gpu = nvml.resolve(spec)
        pressure = BackPressure.from_settings(telemetry)
        gate = ConsumerGate.for_app(
            celery_app, queues, worker, pressure, record=partial(_record_event, ctx), held=_drained(ctx, worker)
        )
        history, prune_samples = database_sinks(ctx.db, ctx.hostname, telemetry.history_days)

        def prune() -> int:
            with ctx.db.connection() as conn:
                return prune_samples() + prune_worker_events(conn, telemetry.history_days)

        sampler = TelemetrySampler(
            nvml_reader(nvml, gpu),
            host=ctx.hostname,
            interval_s=telemetry.interval_s,
            redis=_redis(ctx.settings.require_broker_url()),
            redis_ttl_s=telemetry.redis_ttl_s,
            worker=worker,
            history=history,
            prune=prune,
            prune_every_s=telemetry.prune_every_s,
            listeners=[gate.on_sample],
        )
        sampler.start()
    except Exception as exc:  # a GPU that is not there (BadInputError), NVML failing, bad thresholds, ...
        nvml.close()
        log.warning("gpu: none (worker_gpu %s: %s); telemetry and back-pressure are off", spec, redact_text(str(exc)))
        return
    ctx.gpu_nvml, ctx.gpu_sampler = nvml, sampler
    log.info(
        "gpu: %s; sampling every %gs; back-pressure on %s (VRAM %s%%, temperature %s°C)",
        gpu.describe(),
        telemetry.interval_s,
        ", ".join(queues),
        telemetry.vram_pause_pct,
        telemetry.temp_pause_c,
    )


def stop_gpu_telemetry(ctx: WorkerContext) -> None:
    """Stop sampling and shut NVML down (the worker is stopping)."""
    sampler, nvml = ctx.gpu_sampler, ctx.gpu_nvml
    ctx.gpu_sampler = ctx.gpu_nvml = None
    if sampler is not None:
        sampler.stop()
    if nvml is not None:
        nvml.close()


def _redis(broker_url: str) -> RedisSink | None:
    """Where the latest samples go: the broker's Redis; None with another broker (history only)."""
    if broker_url.startswith(("redis://", "rediss://")):
        return redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=5)
    return None


def _record_event(ctx: WorkerContext, event: WorkerEvent) -> None:
    with ctx.db.connection() as conn:
        record_worker_event(conn, event)


def _drained(ctx: WorkerContext, worker: str) -> Callable[[str], bool]:
    """The gate's `held(queue)`: an operator drained the queue (`ragfleet drain`), so a cooled GPU leaves it stopped.

    A worker paused by its GPU was not consuming when the drain looked for consumers, so the drain did
    not record it; it records itself here, so that `ragfleet resume` restarts it with the others.
    """

    def held(queue: str) -> bool:
        with ctx.db.connection() as conn:
            drained_on = paused_workers(conn, queue)
            if drained_on and worker not in drained_on:
                record_paused(conn, queue, [worker])
        return bool(drained_on)

    return held
