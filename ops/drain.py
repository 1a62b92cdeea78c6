"""`ragfleet drain`, `resume` and `purge`: take a queue out of service, park its messages, bring it back.

Works the same on Redis and RabbitMQ: counts come from a passive queue declare, messages are moved
with `basic_get` and acknowledged one batch at a time, consumers are stopped and started with
Celery's `cancel_consumer` / `add_consumer` broadcast.

drain QUEUE --to FILE
1. Find the workers consuming QUEUE (`inspect().active_queues()`) and record them in the database
   (`paused_consumers`) *before* stopping them, so `resume` — on another host, or much later — knows
   whom to restart, even if this process dies right after.
2. `cancel_consumer(QUEUE)` on those workers; each must confirm, or nothing is moved.
3. Wait (up to --timeout) until they hold nothing from QUEUE: no active, reserved (prefetched) or
   scheduled (countdown/ETA) task, and on Redis no unacknowledged message of QUEUE at all (that also
   covers celery-batches buffers, which `inspect` does not show; RabbitMQ does not report unacked
   messages over AMQP, so for `embed` the wait lasts at least one embedding.flush_interval_s there).
   A prefetched message is not handed back by a cancel: the worker runs it, which is why this wait
   exists. On timeout nothing is moved, the consumers stay stopped (and recorded), and running drain
   again continues from there (it also waits for workers an earlier, interrupted drain stopped).
   Every poll also stops and records any worker that consumes QUEUE by then: one started during the
   drain, or one whose GPU cooled and whose back-pressure added its consumer back in the instant
   before step 1 was recorded (its own check of `paused_consumers` came too early to see it).
4. "before": the messages waiting then (passive declare).
5. Move exactly that many, oldest first: `basic_get` without auto-ack, append to FILE.partial, flush
   and fsync the batch, and only then acknowledge its messages. A crash never loses a message: an
   unacknowledged one goes back to the queue (RabbitMQ at once; Redis when the connection closes, or
   after visibility_timeout if the process was killed) — at worst a message is both in FILE.partial
   and back in the queue, i.e. duplicated if the partial file is published.
6. "after": the records written. Both are returned; they are equal unless something else took
   messages meanwhile (a consumer that was started again). Messages published during the move stay
   in the queue and are reported as `remaining` (run drain again).

drain QUEUE (no --to)
Wait until QUEUE has nothing waiting and its consumers hold nothing from it, then stop and record
them. On timeout the consumers are left as they were (consuming) and the error says what remains.

resume QUEUE
`add_consumer(QUEUE)` on the recorded workers, then forget the records. A recorded worker that does
not answer is forgotten too: a worker that restarts consumes its `-Q` queues again anyway (a cancel
does not survive a restart — which is also the limit of "leaves consumers stopped").

purge QUEUE
Count, then `queue_purge`. Only messages waiting in the broker go: what workers hold (running or
prefetched) is not waiting, and is not purged.

Every step is idempotent: draining a drained queue stops nothing more and moves nothing (an empty
backlog is still written, with its count 0); resuming twice starts nothing the second time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery

from ops.backlog import BacklogWriter, check_target, record_of
from ops.queues import count_waiting, queue_depths
from ops.status import workers_online
from shared.db import connect
from shared.db.consumers import forget_paused, paused_workers, record_paused
from shared.db.telemetry import held_by_gpu
from shared.errors import BadInputError, RetryableError, StorageUnavailableError
from shared.names import ALL_QUEUES, QUEUE_EMBED
from shared.settings import Settings

MOVE_BATCH = 100
MOVE_BATCH_BYTES = 8 << 20
POLL_S = 0.5


class DrainTimeoutError(RetryableError):
    """Raised when a queue's consumers (or the queue itself) did not go idle within the drain's timeout."""


@dataclass(frozen=True)
class InFlight:
    """What the workers of a queue still hold from it."""

    tasks: dict[str, int] = field(default_factory=dict)
    """worker -> active, reserved and scheduled tasks of the queue."""
    unacked: int | None = None
    """Redis only: messages of the queue delivered and not yet acknowledged (None on RabbitMQ)."""
    silent: tuple[str, ...] = ()
    """Workers that did not answer `inspect` in time (they may still hold something)."""

    @property
    def idle(self) -> bool:
        """Nothing held by anyone, as far as can be known."""
        return not any(self.tasks.values()) and not self.unacked and not self.silent

    def describe(self) -> str:
        """One line for an error message."""
        parts = [f"{n} on {w}" for w, n in sorted(self.tasks.items()) if n]
        if self.unacked:
            parts.append(f"{self.unacked} unacknowledged in the broker")
        if self.silent:
            parts.append(f"no answer from {', '.join(self.silent)}")
        return "; ".join(parts) or "nothing"


@dataclass(frozen=True)
class DrainReport:
    """What a drain did (or, with dry_run, would do)."""

    queue: str
    workers: tuple[str, ...]
    """The consumers stopped (recorded for `resume`); with dry_run, those that would be."""
    before: int
    """Messages waiting when the move began (with a backlog), or when the drain started (without)."""
    moved: int = 0
    """Records written to the backlog: the "after" count."""
    remaining: int = 0
    """Messages waiting when the drain ended (published while it ran)."""
    backlog: Path | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    """What the consumers held when they were stopped (the drain waited for it); with dry_run, now."""
    waited_s: float = 0.0
    dry_run: bool = False

    @property
    def counts_match(self) -> bool:
        """Every message counted before the move is in the backlog."""
        return self.backlog is None or self.before == self.moved


@dataclass(frozen=True)
class ResumeReport:
    """What `resume` restarted."""

    queue: str
    resumed: tuple[str, ...] = ()
    unreachable: tuple[str, ...] = ()
    """Recorded workers that did not answer (gone, or restarted: records dropped all the same)."""
    failed: dict[str, str] = field(default_factory=dict)
    """worker -> error it answered (records kept: run resume again)."""
    gpu_held: tuple[str, ...] = ()
    """Recorded workers whose GPU is still too full or too hot: not restarted now (records dropped);
    each one's back-pressure restarts it when its GPU recovers."""

    @property
    def nothing_to_resume(self) -> bool:
        """No consumer of the queue was recorded as stopped."""
        return not (self.resumed or self.unreachable or self.failed or self.gpu_held)


@dataclass(frozen=True)
class PurgeReport:
    """What `purge` counted and deleted."""

    queue: str
    waiting: int
    purged: int | None = None
    """None when nothing was deleted (dry run, or not confirmed)."""


def check_queue(queue: str) -> str:
    """The queue name, or BadInputError listing the known queues."""
    if queue not in ALL_QUEUES:
        raise BadInputError(f"queue {queue!r}: unknown queue; known: {', '.join(ALL_QUEUES)}")
    return queue


# ---------------------------------------------------------------- drain


def drain(
    settings: Settings,
    app: Celery,
    queue: str,
    *,
    to: Path | None = None,
    timeout_s: float = 600.0,
    dry_run: bool = False,
    control_timeout_s: float = 1.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> DrainReport:
    """Stop QUEUE's consumers; with `to`, move its waiting messages into that backlog file, else wait
    until it is empty. `on_progress(moved, before)` is called once before the move and after each batch."""
    check_queue(queue)
    if to is not None:
        check_target(to)  # before anything is stopped
    online = workers_online(app, timeout_s=control_timeout_s)
    consumers = tuple(sorted(w for w, queues in online.items() if queue in queues))
    if dry_run:
        held = in_flight(app, queue, consumers, timeout_s=control_timeout_s)
        return DrainReport(queue, consumers, count_waiting(app, queue), in_flight=held, dry_run=True)
    if to is None:
        return _drain_until_empty(settings, app, queue, consumers, timeout_s, control_timeout_s)
    started = time.monotonic()
    with connect(settings.require_database_url()) as conn:
        record_paused(conn, queue, consumers)
        recorded = paused_workers(conn, queue)
    stop_consumers(app, queue, consumers, timeout_s=control_timeout_s)
    # Workers stopped by an earlier, interrupted drain may still be finishing tasks of this queue.
    stopped = set(consumers)
    held = wait_until_idle(
        app,
        queue,
        stopped | (set(recorded) & set(online)),
        deadline=started + timeout_s,
        control_timeout_s=control_timeout_s,
        settle_s=_settle_s(settings, queue),
        latecomers=_collecting(stopped, settings, app, queue, control_timeout_s),
    )
    waited = time.monotonic() - started
    before = count_waiting(app, queue)
    if on_progress:
        on_progress(0, before)
    moved = move_to_backlog(app, queue, to, limit=before, on_progress=on_progress)
    remaining = count_waiting(app, queue)
    return DrainReport(
        queue, tuple(sorted(stopped)), before, moved, remaining, to, in_flight=held, waited_s=round(waited, 1)
    )


def _drain_until_empty(
    settings: Settings, app: Celery, queue: str, consumers: tuple[str, ...], timeout_s: float, control_timeout_s: float
) -> DrainReport:
    started = time.monotonic()
    deadline = started + timeout_s
    before = count_waiting(app, queue)
    while True:
        waiting = count_waiting(app, queue)
        held = in_flight(app, queue, consumers, timeout_s=control_timeout_s)
        if waiting == 0 and held.idle:
            break
        if time.monotonic() >= deadline:
            who = ", ".join(consumers) or "none online"
            raise DrainTimeoutError(
                f"queue {queue} did not empty within {timeout_s:g}s: {waiting} messages waiting, in flight: "
                f"{held.describe()}; its consumers ({who}) were left as they were"
            )
        time.sleep(POLL_S)
    with connect(settings.require_database_url()) as conn:
        record_paused(conn, queue, consumers)
    stop_consumers(app, queue, consumers, timeout_s=control_timeout_s)
    # A message published between the check and the cancel may have been taken: let it finish.
    stopped = set(consumers)
    wait_until_idle(
        app,
        queue,
        stopped,
        deadline=max(deadline, time.monotonic() + 30),
        control_timeout_s=control_timeout_s,
        settle_s=_settle_s(settings, queue),
        latecomers=_collecting(stopped, settings, app, queue, control_timeout_s),
    )
    waited = round(time.monotonic() - started, 1)
    return DrainReport(queue, tuple(sorted(stopped)), before, remaining=count_waiting(app, queue), waited_s=waited)


def stop_consumers(app: Celery, queue: str, workers: Iterable[str], *, timeout_s: float) -> None:
    """`cancel_consumer` on these workers; StorageUnavailableError unless every one confirms."""
    names = list(workers)
    if not names:
        return
    replies = app.control.cancel_consumer(queue, destination=names, reply=True, timeout=timeout_s, limit=len(names))
    answers = _answers(replies)
    silent = [w for w in names if "ok" not in answers.get(w, {})]
    if silent:
        raise StorageUnavailableError(
            f"queue {queue}: workers {', '.join(silent)} did not confirm they stopped consuming "
            f"({answers or 'no answer'}); nothing was moved — run drain again, or `ragfleet resume {queue}`"
        )


def wait_until_idle(
    app: Celery,
    queue: str,
    workers: Iterable[str],
    *,
    deadline: float,
    control_timeout_s: float,
    settle_s: float = 0.0,
    latecomers: Callable[[], set[str]] | None = None,
) -> InFlight:
    """Poll until the workers hold nothing from the queue, and at least `settle_s` has passed; returns what
    they held when the wait began. `latecomers()`, called on each poll, stops consumers that appeared since;
    they are waited for too. DrainTimeoutError at the deadline."""
    workers = set(workers)
    settled_at = time.monotonic() + settle_s
    first: InFlight | None = None
    while True:
        if latecomers is not None:
            workers |= latecomers()
        names = sorted(workers)
        held = in_flight(app, queue, names, timeout_s=control_timeout_s)
        first = first or held
        if held.idle and time.monotonic() >= settled_at:
            return first
        if time.monotonic() >= deadline:
            raise DrainTimeoutError(
                f"queue {queue}: workers still hold its tasks ({held.describe()}); nothing was moved, the "
                f"consumers stay stopped — run drain again later (Redis returns messages of a dead worker "
                f"after broker.visibility_timeout_s)"
            )
        time.sleep(POLL_S)


def stop_latecomers(settings: Settings, app: Celery, queue: str, *, control_timeout_s: float) -> set[str]:
    """Stop and record whoever consumes `queue` now: a worker started during the drain, or one whose GPU
    cooled and whose back-pressure added its consumer back just before the drain was recorded."""
    online = workers_online(app, timeout_s=control_timeout_s)
    consuming = sorted(w for w, queues in online.items() if queue in queues)
    if consuming:
        with connect(settings.require_database_url()) as conn:
            record_paused(conn, queue, consuming)
        stop_consumers(app, queue, consuming, timeout_s=control_timeout_s)
    return set(consuming)


def _collecting(
    stopped: set[str], settings: Settings, app: Celery, queue: str, control_timeout_s: float
) -> Callable[[], set[str]]:
    """`stop_latecomers` that also adds what it stops to `stopped` (the drain's report)."""

    def latecomers() -> set[str]:
        found = stop_latecomers(settings, app, queue, control_timeout_s=control_timeout_s)
        stopped.update(found)
        return found

    return latecomers


def _settle_s(settings: Settings, queue: str) -> float:
    """How long a stopped consumer may still hold messages that `inspect` cannot see: an embed worker's
    celery-batches buffer (flushed every embedding.flush_interval_s). Redis's unacked count sees them;
    RabbitMQ's protocol does not, so the wait is at least this long on every broker."""
    return settings.embedding.flush_interval_s + POLL_S if queue == QUEUE_EMBED else 0.0


def in_flight(app: Celery, queue: str, workers: Iterable[str], *, timeout_s: float) -> InFlight:
    """Active, reserved and scheduled tasks of `queue` on these workers, and Redis's unacked count."""
    names = sorted(set(workers))
    tasks: dict[str, int] = {}
    answered: set[str] = set()
    if names:
        inspect = app.control.inspect(destination=names, timeout=timeout_s, limit=len(names))
        for method in ("active", "reserved", "scheduled"):
            replies: dict[str, list[dict[str, Any]]] = getattr(inspect, method)() or {}
            for worker, items in replies.items():
                answered.add(worker)
                tasks[worker] = tasks.get(worker, 0) + sum(_of_queue(item, queue) for item in items)
    unacked = queue_depths(app)[queue].unacked
    silent = tuple(w for w in names if w not in answered)
    return InFlight(tasks=tasks, unacked=unacked, silent=silent)


def _of_queue(item: dict[str, Any], queue: str) -> bool:
    request = item.get("request", item)  # scheduled() wraps the request
    delivery = request.get("delivery_info") or {}
    return queue in (delivery.get("routing_key"), delivery.get("queue"))


def move_to_backlog(
    app: Celery, queue: str, path: Path, *, limit: int, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Move up to `limit` messages, oldest first, into a new backlog file; returns how many.

    A batch's messages are acknowledged only once the batch is fsynced; on any failure the
    unacknowledged ones go back to the queue and FILE.partial keeps those already moved."""
    writer = BacklogWriter(path, queue)
    try:
        with app.connection_for_write() as conn:
            bound = app.amqp.queues[queue].bind(conn.default_channel)
            while writer.records < limit:
                batch = _take_batch(bound, min(MOVE_BATCH, limit - writer.records))
                if not batch:
                    break  # something else took messages: the report shows before != moved
                writer.write_batch([record_of(m, queue) for m in batch])
                for message in batch:
                    message.ack()
                if on_progress:
                    on_progress(writer.records, limit)
        writer.finish()
    except BaseException as exc:
        kept = writer.abandon()
        if kept is None or not isinstance(exc, Exception):
            raise
        raise StorageUnavailableError(
            f"drain of {queue} failed after writing {writer.records} messages to {kept}; those acknowledged are "
            f"no longer in the queue: publish the file with `ragfleet enqueue backlog {kept} --partial` "
            f"(at most one batch of it may also be back in the queue): {exc}"
        ) from exc
    return writer.records


def _take_batch(bound_queue: Any, size: int) -> list[Any]:
    batch: list[Any] = []
    nbytes = 0
    while len(batch) < size and nbytes < MOVE_BATCH_BYTES:
        message = bound_queue.get(no_ack=False)
        if message is None:
            break
        batch.append(message)
        nbytes += len(message.body)
    return batch


# ---------------------------------------------------------------- resume and purge


def resume(settings: Settings, app: Celery, queue: str, *, control_timeout_s: float = 2.0) -> ResumeReport:
    """Restart the consumers a drain stopped on `queue`, and forget them."""
    check_queue(queue)
    with connect(settings.require_database_url()) as conn:
        recorded = paused_workers(conn, queue)
        # A hot GPU outranks the operator: adding its consumer back would overload it. Dropping the
        # record lets the worker's own back-pressure restart it once the GPU recovers.
        hot = held_by_gpu(conn, queue, recorded)
    if not recorded:
        return ResumeReport(queue)
    to_resume = [w for w in recorded if w not in hot]
    replies = (
        app.control.add_consumer(
            queue, destination=to_resume, reply=True, timeout=control_timeout_s, limit=len(to_resume)
        )
        if to_resume
        else []
    )
    answers = _answers(replies)
    resumed = tuple(w for w in to_resume if "ok" in answers.get(w, {}))
    failed = {w: str(a.get("error", a)) for w, a in answers.items() if w in to_resume and "ok" not in a}
    unreachable = tuple(w for w in to_resume if w not in answers)
    with connect(settings.require_database_url()) as conn:
        forget_paused(conn, queue, [*resumed, *unreachable, *hot])
    return ResumeReport(queue, resumed, unreachable, failed, tuple(hot))


def purge(app: Celery, queue: str, *, confirmed: bool) -> PurgeReport:
    """Count the waiting messages and, if confirmed, delete them (purged: what the broker reports deleting)."""
    check_queue(queue)
    waiting = count_waiting(app, queue)
    if not confirmed or waiting == 0:
        return PurgeReport(queue, waiting, 0 if confirmed else None)
    with app.connection_for_write() as conn:
        purged = app.amqp.queues[queue].bind(conn.default_channel).purge()
    return PurgeReport(queue, waiting, int(purged or 0))


def _answers(replies: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Celery's control replies ([{worker: {"ok": ...}}, ...]) as one mapping."""
    merged: dict[str, dict[str, Any]] = {}
    for reply in replies or []:
        for worker, answer in reply.items():
            merged[worker] = answer if isinstance(answer, dict) else {"error": str(answer)}
    return merged
