"""`ragfleet status`: queue depths, workers online, row counts and per-tier accounting, gathered through
the broker, Celery's control API and the database."""

from __future__ import annotations

from typing import Any

from celery import Celery

from shared.db import connect
from shared.db.accounting import dead_letter_counts, tier_accounting
from shared.db.stats import table_counts, tier_distribution
from shared.names import ALL_QUEUES
from shared.redact import redact_url
from shared.settings import Settings


def queue_depths(app: Celery) -> dict[str, dict[str, int]]:
    """Waiting messages per queue (passive declare: works on Redis and RabbitMQ alike)."""
    depths: dict[str, dict[str, int]] = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        for queue in ALL_QUEUES:
            try:
                ok = channel.queue_declare(queue=queue, passive=True)
                depths[queue] = {"waiting": int(ok.message_count)}
            except Exception:  # RabbitMQ closes the channel for an undeclared queue: it holds nothing
                channel = conn.channel()
                depths[queue] = {"waiting": 0}
    return depths


def workers_online(app: Celery, timeout_s: float = 1.0) -> dict[str, list[str]]:
    """worker name -> the queues it consumes, for every worker that answers in time."""
    replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    return {name: sorted(q["name"] for q in queues) for name, queues in replies.items()}


def gather(settings: Settings, app: Celery) -> dict[str, Any]:
    """Everything `status` shows, as plain data (the `--json` output)."""
    with connect(settings.require_database_url()) as conn:
        counts = table_counts(conn)
        tiers = tier_distribution(conn)
        accounting = tier_accounting(conn)
        dead = dead_letter_counts(conn)
    return {
        "broker": redact_url(settings.require_broker_url()),
        "database": redact_url(settings.require_database_url()),
        "queues": queue_depths(app),
        "workers": workers_online(app),
        "counts": counts,
        "start_tiers": tiers,
        "tiers": accounting,
        "dead_letters": dead,
    }
