"""What a worker process holds: settings, a database pool, lazily the embedder, and its GPU's telemetry."""

from __future__ import annotations

import os
import socket
from functools import cached_property

import httpx

from shared import http as llm_http
from shared.db import Database
from shared.embedders import Embedder, make_embedder
from shared.names import TIERS
from shared.settings import Settings
from workers.cooldown import Cooldowns, make_cooldowns
from workers.gpu.nvml import Nvml
from workers.gpu.telemetry import TelemetrySampler
from workers.host_load import HostLoad
from workers.llm import LLMBackend, make_backend


class WorkerContext:
    """Per-process resources, created on first use (so prefork children each get their own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hostname = socket.gethostname()
        self._pid = os.getpid()
        self.gpu_sampler: TelemetrySampler | None = None
        """The pinned GPU's telemetry, in a GPU-pinned worker's main process (see workers.celery); else None."""
        self.gpu_nvml: Nvml | None = None

    @cached_property
    def db(self) -> Database:
        """This process's connection pool."""
        return Database(self.settings.require_database_url(), max_size=8)

    @cached_property
    def http(self) -> httpx.Client:
        """Pooled HTTP connections to the LLM servers (explicit connect and read timeouts)."""
        tiers = [self.settings.tiers.get(t) for t in TIERS]
        return llm_http.client(
            pool_size=max(16, *((t.concurrency + t.queue_depth) * max(1, len(t.endpoints)) for t in tiers))
        )

    @cached_property
    def cooldowns(self) -> Cooldowns:
        """Host cooldowns, shared through Redis when the broker is Redis."""
        return make_cooldowns(self.settings.require_broker_url())

    @cached_property
    def host_load(self) -> HostLoad:
        """Requests in flight per LLM host from this process's threads (the least loaded is tried first)."""
        return HostLoad()

    def backend(self, tier: str, host: str) -> LLMBackend:
        """The backend for one host of a tier."""
        return make_backend(self.settings.tiers.get(tier), host, self.http)

    @cached_property
    def embedder(self) -> Embedder:
        """The embedding model, loaded once per process."""
        return make_embedder(self.settings.embedding)


_context: WorkerContext | None = None


def install_context(settings: Settings) -> WorkerContext:
    """Make the process-wide context (called once by the Celery app module)."""
    global _context
    _context = WorkerContext(settings)
    return _context


def get_context() -> WorkerContext:
    """The process-wide context; a forked child gets a fresh one so it never shares a parent's sockets."""
    global _context
    assert _context is not None, "install_context() was not called"
    if _context._pid != os.getpid():
        _context = WorkerContext(_context.settings)
    return _context
