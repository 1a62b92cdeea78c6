"""Enqueue a repository: walk it, plan the sync by content hash, apply deletions, publish per-file messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Celery

from producers.sync import SyncPlan, plan_sync
from producers.walker import Skips, WalkedFile, resolve_root, walk_repo
from shared.db import connect
from shared.db.repos import PlannedFile, delete_files, ensure_repo, record_planned, stored_hashes
from shared.messages import FileMessage
from shared.names import QUEUE_CHUNK, TASK_CHUNK_FILE
from shared.settings import Settings


@dataclass
class EnqueueReport:
    """What one enqueue did."""

    repo: str
    root: str
    plan: SyncPlan
    skips: Skips
    published: int = 0
    deleted: int = 0
    files_seen: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def enqueue_repo(
    settings: Settings,
    app: Celery,
    path: str,
    *,
    name: str | None = None,
    on_publish: Callable[[int, int], None] | None = None,
) -> EnqueueReport:
    """Sync the repo at `path` into the index; returns the plan and what was published."""
    root = resolve_root(path)
    repo = name or root.name
    skips = Skips()
    walked: dict[str, WalkedFile] = {f.path: f for f in walk_repo(root, settings.walk, skips)}
    with connect(settings.require_database_url()) as conn:
        repo_id = ensure_repo(conn, repo, str(root))
        plan = plan_sync({p: f.content_hash for p, f in walked.items()}, stored_hashes(conn, repo_id))
        record_planned(
            conn,
            repo_id,
            repo,
            (PlannedFile(p, walked[p].content_hash, walked[p].size_bytes, walked[p].language) for p in plan.to_publish),
        )
        deleted = delete_files(conn, repo_id, plan.delete)
        conn.commit()
    report = EnqueueReport(repo=repo, root=str(root), plan=plan, skips=skips, deleted=deleted, files_seen=len(walked))
    # Published after the commit: a chunk worker only accepts a message whose hash the files table holds.
    total = len(plan.to_publish)
    for i, rel in enumerate(plan.to_publish, start=1):
        f = walked[rel]
        message = FileMessage(
            repo=repo,
            path=f.path,
            content_hash=f.content_hash,
            language=f.language,
            size_bytes=f.size_bytes,
            content=f.text,
        )
        app.send_task(TASK_CHUNK_FILE, args=[message.to_wire()], queue=QUEUE_CHUNK)
        report.published = i
        if on_publish:
            on_publish(i, total)
    return report
