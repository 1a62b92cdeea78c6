"""What a worker process holds: settings, a database pool and, lazily, the embedder."""

from __future__ import annotations

import os
import socket
from functools import cached_property

from shared.db import Database
from shared.embedders import Embedder, make_embedder
from shared.settings import Settings


class WorkerContext:
    """Per-process resources, created on first use (so prefork children each get their own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hostname = socket.gethostname()
        self._pid = os.getpid()

    @cached_property
    def db(self) -> Database:
        """This process's connection pool."""
        return Database(self.settings.require_database_url(), max_size=8)

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
