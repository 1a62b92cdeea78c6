"""The last step of every chunker: a span still over the token limit is cut into pieces of characters.

Only a span of one line can be over the limit after parts.py (minified code, generated data, a
part whose header line and one line are too long together). Its pieces keep its kind and lines
and are named `NAME (chars A-B)`: put back together in order they are the span's content.
"""

from __future__ import annotations

from workers.chunking.base import Span
from workers.chunking.parts import Limits

# Where a piece may end early (within its last fifth) so that a token is not cut in half.
_SOFT_BREAKS = (" ", "\t", ",", ";")


def cut_long_spans(spans: list[Span], limits: Limits) -> list[Span]:
    """Every span within the token limit: one still over it (it can only be one line, minified code
    or data, perhaps after a part's header line) is cut into pieces of its content named
    `NAME (chars A-B)` (1-based, inclusive), each on the span's lines."""
    if all(len(span.content) <= limits.max_chars for span in spans):
        return spans
    cut: list[Span] = []
    for span in spans:
        if len(span.content) <= limits.max_chars:
            cut.append(span)
            continue
        for start, end in char_pieces(span.content, limits.max_chars):
            name = f"{span.name} (chars {start + 1}-{end})"
            cut.append(Span(span.kind, name, span.start_line, span.end_line, span.content[start:end]))
    return cut


def char_pieces(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) slices of at most max_chars covering text; each ends after a space or separator
    in its last fifth when there is one, so that tokens are not cut in half."""
    pieces: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            soft = max(text.rfind(mark, start + max_chars * 4 // 5, end) for mark in _SOFT_BREAKS)
            if soft > start:
                end = soft + 1
        pieces.append((start, end))
        start = end
    return pieces
