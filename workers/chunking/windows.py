"""Overlapping windows of lines: the chunker for every language without a structural one."""

from __future__ import annotations

from workers.chunking.base import Span, is_blank, make_span


def check_window(window_lines: int, overlap_lines: int) -> None:
    """Raise ValueError unless 0 <= overlap_lines < window_lines (a caller's mistake, not content)."""
    if not 0 <= overlap_lines < window_lines:
        raise ValueError(
            f"need 0 <= overlap_lines < window_lines, got window_lines={window_lines}, overlap_lines={overlap_lines}"
        )


def window_ranges(first_line: int, last_line: int, window_lines: int, overlap_lines: int) -> list[tuple[int, int]]:
    """(start, end) of overlapping windows that cover first_line..last_line, the last ending on last_line."""
    check_window(window_lines, overlap_lines)
    step = window_lines - overlap_lines
    ranges: list[tuple[int, int]] = []
    start = first_line
    while start <= last_line:
        end = min(start + window_lines - 1, last_line)
        ranges.append((start, end))
        if end == last_line:
            break
        start += step
    return ranges


def chunk_windows(
    lines: list[str], *, window_lines: int, overlap_lines: int, kind: str = "window", name: str | None = None
) -> list[Span]:
    """Windows over the whole file; windows that hold only blank lines are dropped.

    Windows are named "lines A-B" unless `name` is given: then the first keeps `name` and the
    others get " (part 2)", " (part 3)" ... (how a long Markdown section is split).
    """
    return window_spans(
        lines, 1, len(lines), window_lines=window_lines, overlap_lines=overlap_lines, kind=kind, name=name
    )


def window_spans(
    lines: list[str],
    first_line: int,
    last_line: int,
    *,
    window_lines: int,
    overlap_lines: int,
    kind: str = "window",
    name: str | None = None,
) -> list[Span]:
    """Windows over lines first_line..last_line, as chunk_windows() does for the whole file."""
    spans: list[Span] = []
    ranges = window_ranges(first_line, last_line, window_lines, overlap_lines)
    for part, (start, end) in enumerate(ranges, start=1):
        # A blank window has nothing to embed; its lines are blank, so no content goes unindexed.
        if is_blank(lines, start, end):
            continue
        span_name = f"lines {start}-{end}" if name is None else _part_name(name, part)
        spans.append(make_span(kind, span_name, lines, start, end))
    return spans


def _part_name(name: str, part: int) -> str:
    return name if part == 1 else f"{name} (part {part})"
