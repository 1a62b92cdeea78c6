"""`ragfleet requeue-dead`: publish dead-lettered messages again, exactly as they were kept.

A dead letter holds the whole message, its task and its queue, so re-publishing needs nothing else.
A span message keeps its attempt history, so if it dies again its new dead letter shows every try.
Rows are locked while their messages are published and deleted in the same transaction: two
operators running requeue-dead at once never publish one message twice, and a publish that fails
leaves its row (and every row after it) in place.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from celery import Celery

from shared.db import connect
from shared.db.failures import DeadLetterFilter, delete_dead_letter_ids, take_dead_letters
from shared.errors import BadInputError
from shared.names import check_tier, enrich_queue
from shared.settings import Settings

STAGES = ("chunk", "enrich", "embed")


@dataclass
class RequeueReport:
    """queue -> messages published again (or that would be, with dry_run)."""

    by_queue: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def total(self) -> int:
        """Messages requeued in all."""
        return sum(self.by_queue.values())


def requeue_dead(
    settings: Settings,
    app: Celery,
    *,
    tier: str | None = None,
    stage: str | None = None,
    repo: str | None = None,
    dry_run: bool = False,
) -> RequeueReport:
    """Re-publish the dead letters that match (`tier`: those that died on that tier's queue)."""
    if stage is not None and stage not in STAGES:
        raise BadInputError(f"--stage {stage}: unknown stage; expected one of {', '.join(STAGES)}")
    queue = enrich_queue(check_tier(tier)) if tier is not None else None
    where = DeadLetterFilter(stage="enrich" if tier else stage, queue=queue, repo=repo)
    report = RequeueReport(dry_run=dry_run)
    with connect(settings.require_database_url()) as conn:
        letters = take_dead_letters(conn, where)
        for letter in letters:
            if not dry_run:
                # An empty queue (never seen in practice) falls back to the task's route.
                app.send_task(letter["task_name"], args=[letter["payload"]], queue=letter["queue"] or None)
            report.by_queue[letter["queue"]] += 1
        if not dry_run:
            delete_dead_letter_ids(conn, [letter["id"] for letter in letters])
            conn.commit()
    return report
