"""Size limits, and how a symbol or a run of code too big for one span becomes several.

A span may hold at most `window_lines` lines and `max_tokens` tokens (estimated as characters / 4,
as the complexity figures do). A symbol over either limit is split into overlapping parts named
`name (part k/n)`; every part after the first starts with the symbol's header line (a def's
signature, a section's header) so that it still says what it belongs to, then carries on with the
lines it covers: its start_line..end_line are those lines, and its content is the header line
followed by them. Code between symbols is split into consecutive pieces without overlap, as the
Python chunker always did. A single line over the token limit (minified code, data) is cut into
pieces of its characters at the end (long_lines.py): no span is over the limit.

A class-like symbol is split around its members (methods, nested classes), which have spans of
their own: a part breaks only between members, never inside one, and leaves out a member that is
over the limits by itself (its own parts cover it). Parts of nothing but brackets are dropped.
A definition that is over the limits only with the comment block above it is not split: the
comment becomes a `code` span of its own ("comment above NAME"), the definition one span.

Coverage: every line is in some span except blank lines and, between symbols, lines of nothing
but brackets and separators (the `}` closing a C# namespace or a JS module wrapper's `})();`):
a span of those would say nothing and still cost an embedding and an enrichment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workers.chunking.base import Span, Symbol, make_span, trim_blank_edges

# About 4 characters per token for source code with BPE tokenizers; a routing estimate, not a count.
CHARS_PER_TOKEN = 4
# A line of nothing but brackets and separators (and whitespace).
PUNCTUATION_LINE = re.compile(r"^[\s{}\[\](),;:.\-]*$")
# With no explicit token limit, a span may average this many tokens a line (100 characters):
# ordinary code never reaches it, minified or generated code with very long lines does.
TOKENS_PER_LINE = 25


def check_window(window_lines: int, overlap_lines: int) -> None:
    """Raise ValueError unless 0 <= overlap_lines < window_lines (a caller's mistake, not content)."""
    if not 0 <= overlap_lines < window_lines:
        raise ValueError(
            f"need 0 <= overlap_lines < window_lines, got window_lines={window_lines}, overlap_lines={overlap_lines}"
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """How big one span may be, and how much consecutive parts of a symbol or window overlap."""

    window_lines: int
    overlap_lines: int
    max_tokens: int

    @property
    def max_chars(self) -> int:
        return self.max_tokens * CHARS_PER_TOKEN


def make_limits(window_lines: int, overlap_lines: int, max_tokens: int | None = None) -> Limits:
    """Checked limits; max_tokens defaults to window_lines * TOKENS_PER_LINE."""
    check_window(window_lines, overlap_lines)
    if max_tokens is None:
        max_tokens = window_lines * TOKENS_PER_LINE
    if max_tokens < 1:
        raise ValueError(f"need max_tokens >= 1, got max_tokens={max_tokens}")
    return Limits(window_lines, overlap_lines, max_tokens)


def range_chars(lines: list[str], start_line: int, end_line: int) -> int:
    """Characters in lines start_line..end_line joined with newlines (a span's content length)."""
    return sum(len(line) for line in lines[start_line - 1 : end_line]) + end_line - start_line


def fits(lines: list[str], start_line: int, end_line: int, limits: Limits) -> bool:
    """Whether lines start_line..end_line make one span within the limits."""
    return end_line - start_line + 1 <= limits.window_lines and range_chars(lines, start_line, end_line) <= (
        limits.max_chars
    )


def pack_ranges(
    lines: list[str],
    first_line: int,
    last_line: int,
    limits: Limits,
    *,
    overlap_lines: int,
    header_line: int | None = None,
) -> list[tuple[int, int]]:
    """(start, end) of pieces covering first_line..last_line, each as long as the limits allow.

    Consecutive pieces share `overlap_lines` lines (fewer when a piece is shorter than that), so
    with short lines the pieces are exactly line windows of `window_lines`, stepping by
    window_lines - overlap_lines. A piece that will start with the header line (header_line
    before it) leaves room for it: one line and the header's characters fewer.
    """
    ranges: list[tuple[int, int]] = []
    start = first_line
    while True:
        max_lines, max_chars = limits.window_lines, limits.max_chars
        if header_line is not None and header_line < start:
            max_lines = max(1, max_lines - 1)
            max_chars -= len(lines[header_line - 1]) + 1
        end, size = start, len(lines[start - 1])
        while end < last_line and end - start + 1 < max_lines and size + 1 + len(lines[end]) <= max_chars:
            size += 1 + len(lines[end])
            end += 1
        ranges.append((start, end))
        if end >= last_line:
            return ranges
        start = end + 1 - min(overlap_lines, end - start)


def part_name(name: str, part: int, parts: int) -> str:
    """`name (part k/n)`: what each part of a split symbol is called."""
    return f"{name} (part {part}/{parts})"


def symbol_spans(
    lines: list[str], symbol: Symbol, limits: Limits, members: Sequence[tuple[int, int]] = ()
) -> list[Span]:
    """The symbol as one span, or as overlapping parts when it is over the limits.

    `members` are the (start, end) lines of the symbols directly inside it (a class's methods):
    a part never cuts one. Parts break only between members, and a member too big for a part is
    left to its own spans (parts.py's module docstring).
    """
    start, end = symbol.start_line, symbol.end_line
    if fits(lines, start, end, limits):
        return [make_span(symbol.kind, symbol.name, lines, start, end)]
    core = symbol.core_line
    if core is not None and start < core <= end and fits(lines, core, end, limits):
        # It fits without the comment block above it: rather than cut the code, the comment gets a span of its own.
        whole = [make_span(symbol.kind, symbol.name, lines, core, end)]
        comment = trim_blank_edges(lines, start, core - 1)
        if comment is not None:
            whole.extend(
                make_span("code", f"comment above {symbol.name}", lines, *piece)
                for piece in pack_ranges(lines, *comment, limits, overlap_lines=0)
            )
        return whole
    # With one-line windows there is no room for a header line.
    header = symbol.header_line if limits.window_lines > 1 else None
    if members:
        units = member_units(start, end, members)
        ranges = pack_units(lines, units, limits, overlap_lines=limits.overlap_lines, header_line=header)
        # Between two big members there may be nothing but a closing bracket: no span for that.
        ranges = [r for r in ranges if not is_punctuation(lines, *r)] or ranges[:1]
    else:
        ranges = pack_ranges(lines, start, end, limits, overlap_lines=limits.overlap_lines, header_line=header)
    spans: list[Span] = []
    for number, (part_start, part_end) in enumerate(ranges, start=1):
        body = lines[part_start - 1 : part_end]
        if header is not None and header < part_start:
            body = [lines[header - 1], *body]
        name = part_name(symbol.name, number, len(ranges))
        spans.append(Span(symbol.kind, name, part_start, part_end, "\n".join(body)))
    return spans


def spans_of_symbols(lines: list[str], symbols: Sequence[Symbol], limits: Limits) -> list[Span]:
    """Every symbol's spans (symbol_spans), each split around the symbols directly inside it."""
    members = direct_members(symbols)
    return [span for symbol in symbols for span in symbol_spans(lines, symbol, limits, members.get(symbol, ()))]


def direct_members(symbols: Sequence[Symbol]) -> dict[Symbol, list[tuple[int, int]]]:
    """(start, end) of the symbols directly inside each symbol that has any (strictly smaller ones)."""
    members: dict[Symbol, list[tuple[int, int]]] = {}
    enclosing: list[Symbol] = []
    for symbol in sorted(symbols, key=lambda s: (s.start_line, -s.end_line)):
        while enclosing and not (
            enclosing[-1].start_line <= symbol.start_line
            and symbol.end_line <= enclosing[-1].end_line
            and (enclosing[-1].start_line, enclosing[-1].end_line) != (symbol.start_line, symbol.end_line)
        ):
            enclosing.pop()
        if enclosing:
            members.setdefault(enclosing[-1], []).append((symbol.start_line, symbol.end_line))
        enclosing.append(symbol)
    return members


def member_units(start: int, end: int, members: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """start..end as units a part may not cut: each member whole, every other line alone."""
    units: list[tuple[int, int]] = []
    line = start
    for member_start, member_end in sorted(members):
        if member_start < line:  # overlapping members: the first one's unit holds it
            continue
        units.extend((n, n) for n in range(line, member_start))
        units.append((member_start, member_end))
        line = member_end + 1
    units.extend((n, n) for n in range(line, end + 1))
    return units


def pack_units(
    lines: list[str],
    units: list[tuple[int, int]],
    limits: Limits,
    *,
    overlap_lines: int,
    header_line: int | None,
) -> list[tuple[int, int]]:
    """pack_ranges() over units instead of lines: pieces hold whole units only.

    A unit of several lines that does not fit in a piece on its own (a member over the limits)
    gets no piece: its own spans cover it, and pieces end before it and start after it. A
    one-line unit over the limits is a piece on its own, as in pack_ranges(). Consecutive pieces
    share the last units of the earlier one that add up to at most `overlap_lines` lines.
    """
    sizes = [range_chars(lines, first, last) for first, last in units]

    def budget(first_line: int) -> tuple[int, int]:
        if header_line is not None and header_line < first_line:
            return max(1, limits.window_lines - 1), limits.max_chars - len(lines[header_line - 1]) - 1
        return limits.window_lines, limits.max_chars

    def last_fitting(first_unit: int) -> int:
        """The last unit a piece starting at first_unit holds; first_unit - 1 when it cannot hold that one."""
        first_line = units[first_unit][0]
        max_lines, max_chars = budget(first_line)
        last_unit, size = first_unit - 1, -1
        while last_unit + 1 < len(units):
            grown = size + 1 + sizes[last_unit + 1]
            if units[last_unit + 1][1] - first_line + 1 > max_lines or grown > max_chars:
                break
            last_unit, size = last_unit + 1, grown
        if last_unit < first_unit and units[first_unit][0] == units[first_unit][1]:
            return first_unit  # one line over the limits: a piece on its own
        return last_unit

    ranges: list[tuple[int, int]] = []
    first_unit = 0
    while first_unit < len(units):
        last_unit = last_fitting(first_unit)
        if last_unit < first_unit:  # a member over the limits: its own spans cover it
            first_unit += 1
            continue
        ranges.append((units[first_unit][0], units[last_unit][1]))
        following = last_unit + 1
        back = following
        while back - 1 > first_unit and units[last_unit][1] - units[back - 1][0] + 1 <= overlap_lines:
            back -= 1
        # The overlap only when the next piece still reaches past this one.
        first_unit = back if back < following and last_fitting(back) >= following else following
    return ranges


def code_spans(lines: list[str], covered: list[tuple[int, int]], limits: Limits) -> list[Span]:
    """`code` spans for the lines no symbol covers, blank edges trimmed, split when too big."""
    # Line-based rather than statement-based so that comments between symbols are indexed too.
    spans: list[Span] = []
    free_start = 1
    for start, end in [*sorted(covered), (len(lines) + 1, len(lines) + 1)]:
        if start > free_start:
            spans.extend(_run_spans(lines, free_start, start - 1, limits))
        free_start = max(free_start, end + 1)
    return spans


def is_punctuation(lines: list[str], start_line: int, end_line: int) -> bool:
    """Whether lines start_line..end_line hold nothing but brackets, separators and whitespace."""
    return all(PUNCTUATION_LINE.match(line) for line in lines[start_line - 1 : end_line])


def _run_spans(lines: list[str], start: int, end: int, limits: Limits) -> list[Span]:
    trimmed = trim_blank_edges(lines, start, end)
    if trimmed is None:
        return []
    spans: list[Span] = []
    # Module code is flat statements, so plain consecutive pieces lose no context worth an overlap.
    for piece_start, piece_end in pack_ranges(lines, *trimmed, limits, overlap_lines=0):
        piece = trim_blank_edges(lines, piece_start, piece_end)
        if piece is not None and not is_punctuation(lines, *piece):
            spans.append(make_span("code", f"module code {piece[0]}-{piece[1]}", lines, *piece))
    return spans
