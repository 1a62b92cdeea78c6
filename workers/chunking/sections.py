"""Sections of prose: from each header to the line before the next, the text before them a preamble."""

from __future__ import annotations

from workers.chunking.base import Span, Symbol, is_blank
from workers.chunking.parts import Limits, symbol_spans

# The name of the text before the first header (a README's badges and intro).
PREAMBLE = "preamble"


def section_spans(lines: list[str], headers: list[Symbol], limits: Limits) -> list[Span]:
    """One section per header (its start_line and name), up to the next; a blank preamble is dropped.

    A section over the limits is split into parts, each after the first starting with the header.
    """
    first = headers[0].start_line if headers else len(lines) + 1
    sections: list[Symbol] = []
    if first > 1 and not is_blank(lines, 1, first - 1):
        sections.append(Symbol("section", PREAMBLE, 1, first - 1, None))
    for index, header in enumerate(headers):
        end = headers[index + 1].start_line - 1 if index + 1 < len(headers) else len(lines)
        if end >= header.start_line:
            sections.append(Symbol("section", header.name, header.start_line, end, header.header_line))
    return [span for section in sections for span in symbol_spans(lines, section, limits)]
