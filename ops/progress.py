"""Wait for a repo to be fully indexed, with a progress bar per stage, and time each stage."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shared.db import connect
from shared.db.stats import RepoProgress, repo_progress
from shared.errors import RagfleetError
from shared.settings import Settings


class IndexTimeoutError(RagfleetError):
    """Raised when a repo is not fully indexed within the time the operator allowed."""


@dataclass
class StageTimes:
    """Seconds from the start of waiting until each stage had nothing left."""

    seconds: dict[str, float] = field(default_factory=dict)


def wait_for_repo(
    settings: Settings, repo: str, *, timeout_s: float, console: Console, poll_s: float = 0.5
) -> tuple[RepoProgress, StageTimes]:
    """Poll the database until every file is chunked and every span enriched and embedded (or dead-lettered)."""
    times = StageTimes()
    start = time.monotonic()
    columns = (TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        connect(settings.require_database_url(), autocommit=True) as conn,
        Progress(*columns, console=console, transient=False) as bars,
    ):
        ids = {stage: bars.add_task(stage, total=None) for stage in ("chunk", "enrich", "embed")}
        while True:
            p = repo_progress(conn, repo, settings.prompt_version, settings.embedding.model)
            bars.update(ids["chunk"], completed=p.files_chunked + p.files_failed, total=p.files_total)
            bars.update(ids["enrich"], completed=p.spans_enriched + p.spans_dead, total=p.spans_total)
            bars.update(ids["embed"], completed=p.spans_embedded + p.spans_dead, total=p.spans_total)
            elapsed = time.monotonic() - start
            for stage, done in (("chunk", p.chunk_done), ("enrich", p.chunk_done and p.enrich_done),
                                ("embed", p.done)):  # fmt: skip
                if done:
                    times.seconds.setdefault(stage, elapsed)
            if p.done:
                return p, times
            if elapsed > timeout_s:
                raise IndexTimeoutError(
                    f"repo {repo!r} not indexed after {timeout_s:.0f}s: {p.files_chunked}/{p.files_total} files "
                    f"chunked, {p.spans_enriched}/{p.spans_total} spans enriched, {p.spans_embedded} embedded "
                    "— are workers running? (`ragfleet status`)"
                )
            time.sleep(poll_s)


@contextmanager
def enqueue_progress(console: Console) -> Iterator[Callable[[Any], None]]:
    """A live line while the producer walks and publishes: files walked, published, skipped (totals unknown)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task("walking", total=None)

        def update(report: Any) -> None:
            bars.update(
                task,
                description=f"walked {report.files_seen} files, published {report.published}, "
                f"skipped {report.skips.total}",
            )

        yield update
