"""The summary `ragfleet enqueue msgpack` prints: one row per file, a total, and every rejection reason."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from producers.doc_backlog import FileReport

_COLUMNS = ("records", "inserted", "replaced", "placeholders", "queued", "duplicates", "skipped_existing", "rejected")
_HEADERS = ("records", "new", "replaced", "dummy", "queued", "dup", "existing", "rejected")
CAPTION = (
    "new/replaced: written with their vector; dummy: zero-vector placeholders; queued: sent to the embed workers; "
    "dup: same content hash earlier in this replay; existing: already stored (skipped)"
)


def render_reports(reports: Sequence[FileReport], *, title: str = "msgpack replay") -> RenderableType:
    """The per-file table (with a total row when there are several files) and the rejection reasons."""
    table = Table(title=title, caption=CAPTION)
    table.add_column("file", overflow="fold", min_width=24)
    for name in _HEADERS:
        table.add_column(name, justify="right", no_wrap=True)
    for r in reports:
        cells = [str(getattr(r, c)) for c in _COLUMNS]
        table.add_row(escape(r.path) + (" (stopped)" if r.interrupted else ""), *cells)
    if len(reports) > 1:
        table.add_row("total", *(str(sum(getattr(r, c) for r in reports)) for c in _COLUMNS), style="bold")
    lines: list[RenderableType] = [table]
    for r in reports:
        if r.messages:
            lines.append(Text(f"  {r.path}: {r.queued} records queued in {r.messages} embed messages"))
        for reason, count in r.reasons.most_common():
            what = (
                f"rejected {count}: {reason} (e.g. {r.examples[reason]})"
                if count
                else f"{reason}: {r.examples[reason]}"
            )
            lines.append(Text(f"  {r.path}: {what}"))
    return Group(*lines)


def report_json(report: FileReport) -> str:
    """One file's counts, reasons and problems as one JSON line (for scripts)."""
    fields = {name: getattr(report, name) for name in (*_COLUMNS, "messages", "interrupted")}
    return json.dumps(
        {"path": report.path, **fields, "reasons": dict(report.reasons), "examples": report.examples,
         "file_problems": report.file_problems},
        sort_keys=True,
    )  # fmt: skip


def nothing_ingested(reports: Sequence[FileReport]) -> bool:
    """True when something was wrong and not one record was written, queued, or found already stored."""
    accepted = sum(r.ingested + r.duplicates + r.skipped_existing for r in reports)
    problems = sum(r.rejected + len(r.file_problems) for r in reports)
    return accepted == 0 and problems > 0


def failure_summary(reports: Sequence[FileReport]) -> str:
    """One line for the error exit: how many files and records, and the reasons."""
    reasons: dict[str, int] = {}
    for r in reports:
        for reason, count in r.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    listed = ", ".join(f"{reason} ({n or 'file'})" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return f"nothing could be ingested from {len(reports)} file(s): {listed or 'no records'}"
