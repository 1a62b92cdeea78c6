"""The Markdown chunker: one section per ATX header, fenced code blocks left alone."""

from __future__ import annotations

import re

from workers.chunking.base import Span, is_blank
from workers.chunking.windows import window_spans

# CommonMark ATX header: up to 3 spaces, 1-6 '#', then a space or the end of the line; an optional
# closing run of '#' (preceded by a space) is not part of the text.
_HEADER = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# The name of the text before the first header (a README's badges and intro).
PREAMBLE = "preamble"


def _header_lines(lines: list[str]) -> list[tuple[int, str]]:
    """(line number, header text) of every header outside a fenced code block."""
    # An unclosed fence runs to the end of the file, as CommonMark has it.
    headers: list[tuple[int, str]] = []
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and _closes(fence, opening.group(1), line[opening.end() :]):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        header = _HEADER.match(line)
        if header:
            text = (header.group(2) or "").strip()
            headers.append((number, text or f"untitled section at line {number}"))
    return headers


def _closes(fence: str, run: str, rest: str) -> bool:
    """Whether a fence run closes the open fence: same character, at least as long, nothing after."""
    return run[0] == fence[0] and len(run) >= len(fence) and not rest.strip()


def chunk_markdown(lines: list[str], *, window_lines: int, overlap_lines: int) -> list[Span]:
    """Sections from each header to the line before the next one; long ones split into parts."""
    headers = _header_lines(lines)
    has_preamble = not headers or headers[0][0] > 1
    starts = [(1, PREAMBLE), *headers] if has_preamble else headers
    spans: list[Span] = []
    for index, (start, name) in enumerate(starts):
        end = starts[index + 1][0] - 1 if index + 1 < len(starts) else len(lines)
        if end < start or (has_preamble and index == 0 and is_blank(lines, start, end)):
            continue
        spans.extend(
            window_spans(
                lines,
                start,
                end,
                window_lines=window_lines,
                overlap_lines=overlap_lines,
                kind="section",
                name=name,
            )
        )
    return spans
