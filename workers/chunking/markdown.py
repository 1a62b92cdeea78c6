"""The Markdown chunker: one section per ATX header, fenced code blocks left alone."""

from __future__ import annotations

import re

from workers.chunking.base import Span, Symbol
from workers.chunking.parts import Limits
from workers.chunking.sections import section_spans

# CommonMark ATX header: up to 3 spaces, 1-6 '#', then a space or the end of the line; an optional
# closing run of '#' (preceded by a space) is not part of the text.
_HEADER = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))??(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


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


def chunk_markdown(path: str, text: str, lines: list[str], limits: Limits) -> list[Span]:
    """Sections from each header to the line before the next one; long ones split into parts."""
    headers = [Symbol("section", name, number, number, number) for number, name in _header_lines(lines)]
    return section_spans(lines, headers, limits)
