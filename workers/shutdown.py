"""A stopping worker hands its running enrichments back instead of starting another LLM call.

Celery's warm shutdown (SIGTERM) stops taking messages and waits for the running tasks. An
enrichment may be minutes from done — retries, other hosts, cooldown waits — and a rolling
restart should not wait for all of that. So on `worker_shutting_down` this process is marked
stopping; an enrichment finishes the call it is in (bounded by the tier's `timeout_s`) and, if that
call did not settle the span, raises `HandBack` instead of trying again. The task rejects its
message with requeue: the broker gives it to another worker, byte for byte, and the hand-back is
not counted as a redelivery. Prefork children (the chunk stage) do not see the mark; their tasks
are short and simply finish.
"""

from __future__ import annotations

import threading

_stopping = threading.Event()


class HandBack(Exception):
    """Raised inside a task when the worker is stopping: the message goes back to its queue."""


def mark_stopping() -> None:
    """Called once when the worker's warm shutdown begins."""
    _stopping.set()


def stopping() -> bool:
    """Whether this worker process is shutting down."""
    return _stopping.is_set()


def pause(seconds: float) -> None:
    """Sleep, but wake at once when the worker starts to stop (a cooldown wait must not hold it up)."""
    _stopping.wait(seconds)
