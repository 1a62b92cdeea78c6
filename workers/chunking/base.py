"""The chunker's data types and the line helpers every chunker shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Only the three real line breaks: str.splitlines() also breaks on \x0c, \x1c-\x1e, \x85,
# \u2028 and \u2029, which Python's tokenizer (and so every ast line number) does not.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Span:
    """One indexable piece of a file: a def, a class, a section, a window of lines."""

    kind: str
    name: str
    start_line: int
    end_line: int
    content: str


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """The spans of one file, and why the chunker fell back to windows if it did."""

    language: str
    spans: list[Span]
    fallback_reason: str | None


@dataclass(frozen=True, slots=True)
class Symbol:
    """A definition or section found in a file, before it becomes one span or several parts.

    Lines are 1-based and inclusive; start_line includes the leading doc comment, decorators and
    attributes. header_line is the line that names it (a def's signature line, a section's
    header): every part after the first starts with it when the symbol is too big for one span.
    core_line is where the definition itself starts, below its leading comment block (decorators
    and attributes are the definition's); None where there is no such distinction (sections, keys).
    """

    kind: str
    name: str
    start_line: int
    end_line: int
    header_line: int | None
    core_line: int | None = None


@dataclass(frozen=True, slots=True)
class PartialSpans:
    """What a chunker returns when part of a file had to be windowed: the spans and the reason."""

    spans: list[Span]
    reason: str


class ChunkError(Exception):
    """Content a structural chunker cannot take; its message is the file's fallback reason."""


def split_lines(text: str) -> list[str]:
    """The file's lines without their line breaks, as the Python tokenizer counts them."""
    if not text:
        return []
    lines = _LINE_BREAK.split(text)
    # A final line break ends the last line rather than starting an empty one (as splitlines()).
    if lines[-1] == "":
        lines.pop()
    return lines


def make_span(kind: str, name: str, lines: list[str], start_line: int, end_line: int) -> Span:
    """A span whose content is exactly lines start_line..end_line (1-based, inclusive)."""
    return Span(kind, name, start_line, end_line, "\n".join(lines[start_line - 1 : end_line]))


def is_blank(lines: list[str], start_line: int, end_line: int) -> bool:
    """Whether lines start_line..end_line (1-based, inclusive) are all whitespace."""
    return all(not line.strip() for line in lines[start_line - 1 : end_line])


def trim_blank_edges(lines: list[str], start_line: int, end_line: int) -> tuple[int, int] | None:
    """The range without its leading and trailing blank lines, or None when nothing is left."""
    while start_line <= end_line and not lines[start_line - 1].strip():
        start_line += 1
    while end_line >= start_line and not lines[end_line - 1].strip():
        end_line -= 1
    return (start_line, end_line) if start_line <= end_line else None


def sort_spans(spans: list[Span]) -> list[Span]:
    """Spans in file order: by start line, then end line."""
    return sorted(spans, key=lambda span: (span.start_line, span.end_line))
