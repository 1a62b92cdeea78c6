"""What happens when a task fails: retry, dead-letter, or pass — never a lost message.

Every task body runs inside `guarded()`:
- ragfleet counts deliveries of each message itself (Redis redelivers an unacked
  message after a crash; a poison message would loop forever) and dead-letters a
  message delivered more than `broker.max_redeliveries` times;
- RetryableError → Celery retry with jittered exponential backoff, then a dead letter;
- PermanentError / EscalateError that reaches here / any unexpected exception →
  a dead-letter row holding the whole message, so `ragfleet requeue-dead` can
  publish it again. The message is then acknowledged: it lives on in the row;
- HandBack (the worker is stopping) → the message is rejected with requeue and goes to
  another worker; a hand-back is not a delivery that counts towards the cap.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject

from shared.db.failures import DeadLetter, count_delivery, forget_delivery, record_attempt, upsert_dead_letter
from shared.errors import RetryableError, StorageUnavailableError
from shared.redact import redact_text
from workers.context import WorkerContext
from workers.shutdown import HandBack

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RETRIES = 5


def backoff_s(retries: int, *, base_s: float = 2.0, cap_s: float = 60.0) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**retries)]."""
    return random.uniform(0, min(cap_s, base_s * (2**retries)))


def guarded(
    task: Task,
    ctx: WorkerContext,
    *,
    stage: str,
    key: str,
    payload: Any,
    body: Callable[[], T],
    repo: str | None = None,
    path: str | None = None,
    on_dead: Callable[[str], None] | None = None,
) -> T | None:
    """Run `body` under the failure policy above; returns its result, or None when the message was dead-lettered."""
    delivery_key = f"{task.request.id}:{task.request.retries}"
    try:
        with ctx.db.connection() as conn:
            deliveries = count_delivery(conn, delivery_key)
    except StorageUnavailableError as exc:
        raise _retry(task, exc) from exc
    letter = _letter(task, stage=stage, key=key, payload=payload, repo=repo, path=path)
    if deliveries > ctx.settings.broker.max_redeliveries:
        reason = f"delivered {deliveries} times (a worker died on it each time)"
        _dead_letter(ctx, letter, "RedeliveryLimitError", reason)
        if on_dead:
            on_dead(f"RedeliveryLimitError: {reason}")
        _forget(ctx, delivery_key)
        return None
    try:
        result = body()
    except HandBack as exc:
        log.warning("%s %s: %s", stage, key, exc)
        _forget(ctx, delivery_key)
        raise Reject(str(exc), requeue=True) from exc
    except RetryableError as exc:
        if task.request.retries < MAX_RETRIES:
            _forget(ctx, delivery_key)
            raise _retry(task, exc) from exc
        failure: Exception = exc
    except Exception as exc:  # a bug or a permanent failure: keep the message, never crash the worker
        log.exception("%s %s failed: %s", stage, key, type(exc).__name__)
        failure = exc
    else:
        _forget(ctx, delivery_key)
        return result
    _dead_letter(ctx, letter, type(failure).__name__, str(failure))
    if on_dead:
        on_dead(f"{type(failure).__name__}: {redact_text(str(failure))}")
    _forget(ctx, delivery_key)
    return None


def _retry(task: Task, exc: Exception) -> Exception:
    countdown = backoff_s(task.request.retries)
    log.warning("retrying in %.1fs: %s", countdown, redact_text(str(exc)))
    return task.retry(exc=exc, countdown=countdown, max_retries=MAX_RETRIES + 1)


def _letter(task: Task, *, stage: str, key: str, payload: Any, repo: str | None, path: str | None) -> DeadLetter:
    delivery = task.request.delivery_info or {}
    queue = str(delivery.get("routing_key") or "")
    return DeadLetter(
        stage=stage,
        key=key,
        task_name=str(task.name),
        queue=queue,
        error_class="",
        reason="",
        payload=payload if isinstance(payload, dict) else {"raw": repr(payload)[:10_000]},
        history=list(payload.get("attempts", [])) if isinstance(payload, dict) else [],
        repo=repo,
        path=path,
    )


def _dead_letter(ctx: WorkerContext, letter: DeadLetter, error_class: str, reason: str) -> None:
    reason = redact_text(reason)[:4000]
    log.error("dead-lettered %s %s: %s: %s", letter.stage, letter.key, error_class, reason)
    final = DeadLetter(**{**letter.__dict__, "error_class": error_class, "reason": reason})
    with ctx.db.connection() as conn:
        upsert_dead_letter(conn, final)
        record_attempt(conn, stage=letter.stage, key=letter.key, ok=False, error_class=error_class, message=reason)


def _forget(ctx: WorkerContext, delivery_key: str) -> None:
    with ctx.db.connection() as conn:
        forget_delivery(conn, delivery_key)
