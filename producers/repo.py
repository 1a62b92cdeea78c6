"""Enqueue a repository: walk it, sync it by content hash, publish per-file messages as the walk goes.

Streaming, with bounded memory: the producer holds the stored path -> hash map and the texts of one
batch (at most `walk.commit_every_files` files or `walk.commit_every_bytes` of text), never the whole
tree. Each batch's files rows are upserted with their new hash and committed *before* the batch is
published, because a chunk worker accepts a message only when the files table holds its hash.

Order of changes, so that no file is ever without spans:
- adds and updates go out batch by batch; an updated file keeps its old spans until the chunk worker
  swaps in the new ones in one transaction (`shared.db.spans.replace_file_spans`);
- a file moved without changes has its row and spans moved after the walk (no chunking, no model);
- stored files the walk never saw are deleted last: they no longer exist, so nothing waits for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from celery import Celery

from producers.sync import SyncCounts, SyncPlanner
from producers.walker import Skips, WalkedFile, read_walked_file, resolve_root, walk_repo
from shared.db import connect
from shared.db.repos import PlannedFile, delete_files, ensure_repo, move_file, record_planned, stored_hashes
from shared.languages import detect_language
from shared.messages import FileMessage
from shared.names import QUEUE_CHUNK, TASK_CHUNK_FILE
from shared.settings import Settings, WalkSettings


@dataclass
class EnqueueReport:
    """What one enqueue did."""

    repo: str
    root: str
    counts: SyncCounts = field(default_factory=SyncCounts)
    skips: Skips = field(default_factory=Skips)
    published: int = 0
    deleted: int = 0
    files_seen: int = 0
    batches: int = 0


@dataclass
class _Batch:
    """Files planned but not yet committed and published: what bounds the producer's memory."""

    files: list[WalkedFile] = field(default_factory=list)
    text_bytes: int = 0

    def add(self, walked: WalkedFile) -> None:
        self.files.append(walked)
        self.text_bytes += len(walked.text)

    def full(self, walk: WalkSettings) -> bool:
        return len(self.files) >= walk.commit_every_files or self.text_bytes >= walk.commit_every_bytes


def enqueue_repo(
    settings: Settings,
    app: Celery,
    path: str | Path,
    *,
    name: str | None = None,
    source: str | None = None,
    on_progress: Callable[[EnqueueReport], None] | None = None,
) -> EnqueueReport:
    """Sync the repo at `path` into the index as it is walked; `source` is recorded as where it came from
    (a git URL; default: the directory)."""
    root = resolve_root(path)
    report = EnqueueReport(repo=name or root.name, root=source or str(root))
    walk = settings.walk
    with connect(settings.require_database_url()) as conn:
        repo_id = ensure_repo(conn, report.repo, report.root)
        conn.commit()
        planner = SyncPlanner(stored_hashes(conn, repo_id))
        conn.commit()  # no transaction left open while the walk runs
        report.counts = planner.counts
        batch = _Batch()
        deferred: list[tuple[str, str]] = []  # (path, hash) of possible renames: settled after the walk

        def flush() -> None:
            nonlocal batch
            _commit_and_publish(conn, app, settings, repo_id, batch.files, report)
            batch = _Batch()
            if on_progress:
                on_progress(report)

        for walked in walk_repo(root, walk, report.skips):
            report.files_seen += 1
            action = planner.classify(walked.path, walked.content_hash)
            if action == "maybe_rename":
                deferred.append((walked.path, walked.content_hash))
            elif action in ("add", "update"):
                batch.add(walked)
            if batch.full(walk):
                flush()
            elif on_progress and report.files_seen % 100 == 0:
                on_progress(report)
        for new_path, digest in deferred:
            old_path = planner.rename_source(digest)
            if old_path is not None and move_file(
                conn, repo_id, old_path, new_path, content_hash=digest, language=detect_language(new_path)
            ):
                planner.renamed(old_path)
                continue
            planner.added()
            # Re-read: only (path, hash) was kept during the walk. It may have changed since: then it is
            # published as it is now (or skipped with its reason, like any file).
            again = read_walked_file(root, new_path, walk, report.skips)
            if again is not None:
                batch.add(again)
            if batch.full(walk):
                flush()
        flush()
        report.deleted = delete_files(conn, repo_id, planner.to_delete())
        conn.commit()
    if on_progress:
        on_progress(report)
    return report


def _commit_and_publish(
    conn: psycopg.Connection,
    app: Celery,
    settings: Settings,
    repo_id: int,
    files: list[WalkedFile],
    report: EnqueueReport,
) -> None:
    """Upsert the batch's files rows with their new hash, commit, then publish one message per file."""
    record_planned(
        conn, repo_id, report.repo, (PlannedFile(f.path, f.content_hash, f.size_bytes, f.language) for f in files)
    )
    conn.commit()
    report.batches += bool(files)
    for f in files:
        message = FileMessage.with_text(
            f.text,
            compress_above_bytes=settings.walk.compress_above_bytes,
            repo=report.repo,
            path=f.path,
            content_hash=f.content_hash,
            language=f.language,
            size_bytes=f.size_bytes,
        )
        app.send_task(TASK_CHUNK_FILE, args=[message.to_wire()], queue=QUEUE_CHUNK)
        report.published += 1
