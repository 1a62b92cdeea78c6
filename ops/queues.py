"""Queue depths as operators need them: messages waiting, and messages delivered but not yet acknowledged.

Waiting comes from a passive queue declare, which Redis and RabbitMQ both answer (`drain` and `purge`
count with it too). Unacknowledged
messages are what workers hold (running or prefetched) — Flower does not export them:
- Redis: kombu keeps every unacked message in the `unacked` hash with its routing key; counted per queue.
- RabbitMQ: AMQP does not report them (the management plugin does, which ragfleet does not require),
  so `unacked` is None there.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import redis
from celery import Celery
from kombu import Connection  # type: ignore[attr-defined]

from shared.names import ALL_QUEUES

UNACKED_HASH = "unacked"  # kombu.transport.redis.Channel.unacked_key


@dataclass(frozen=True)
class QueueDepth:
    """One queue's backlog."""

    waiting: int
    unacked: int | None


def queue_depths(app: Celery) -> dict[str, QueueDepth]:
    """Waiting and unacknowledged messages of every ragfleet queue."""
    with app.connection_for_read() as conn:
        waiting = {queue: _waiting(app, conn, queue) for queue in ALL_QUEUES}
    unacked = _redis_unacked(str(app.conf.broker_url))
    return {q: QueueDepth(waiting[q], None if unacked is None else unacked.get(q, 0)) for q in ALL_QUEUES}


def count_waiting(app: Celery, queue: str) -> int:
    """Messages waiting in one queue."""
    with app.connection_for_read() as conn:
        return _waiting(app, conn, queue)


def _waiting(app: Celery, conn: Connection, queue: str) -> int:
    # A passive declare never creates the queue; on a channel of its own, because RabbitMQ closes the
    # channel that asks for a queue never declared (NOT_FOUND) — which then holds nothing.
    try:
        channel = conn.channel()  # type: ignore[no-untyped-call]
        return int(app.amqp.queues[queue].bind(channel).queue_declare(passive=True).message_count)
    except conn.channel_errors:
        return 0


def _redis_unacked(broker_url: str) -> Counter[str] | None:
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=10)
    counts: Counter[str] = Counter()
    for _, raw in client.hscan_iter(UNACKED_HASH):
        try:
            _, _, routing_key = json.loads(raw)
        except (ValueError, TypeError):
            continue  # not kombu's format: not ours to count
        counts[str(routing_key)] += 1
    return counts
