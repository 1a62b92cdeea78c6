"""`ragfleet status`: queue depths, workers online, row counts and per-tier accounting, gathered through
the broker, Celery's control API and the database."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Celery

from ops.queues import queue_depths
from shared.db import connect
from shared.db.accounting import dead_letter_counts, tier_accounting
from shared.db.stats import table_counts, tier_distribution
from shared.redact import redact_url
from shared.settings import Settings


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
        "queues": {name: asdict(depth) for name, depth in queue_depths(app).items()},
        "workers": workers_online(app),
        "counts": counts,
        "start_tiers": tiers,
        "tiers": accounting,
        "dead_letters": dead,
    }
