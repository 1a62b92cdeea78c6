"""Overlapping windows of lines: the chunker for every language without a structural one."""

from __future__ import annotations

from workers.chunking.base import Span, is_blank, make_span
from workers.chunking.parts import Limits, check_window, pack_ranges


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


def chunk_windows(lines: list[str], limits: Limits) -> list[Span]:
    """Windows named "lines A-B" over the whole file; windows that hold only blank lines are dropped.

    Windows are window_ranges() unless lines are so long that a window would pass the token limit:
    then that window ends early (the overlap with the next one stays the same).
    """
    if not lines:
        return []
    spans: list[Span] = []
    for start, end in pack_ranges(lines, 1, len(lines), limits, overlap_lines=limits.overlap_lines):
        # A blank window has nothing to embed; its lines are blank, so no content goes unindexed.
        if not is_blank(lines, start, end):
            spans.append(make_span("window", f"lines {start}-{end}", lines, start, end))
    return spans
