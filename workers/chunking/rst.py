"""The reStructuredText chunker: one section per title, however it is adorned.

A title is a one-line paragraph (after a blank line or at the top, not indented) underlined by a
run of one punctuation character at least as long as the title, with or without a matching
overline (an overlined title may be inset). Indented text, literal blocks included, never holds a
title; a lone run of punctuation between blank lines is a transition, not a title.
"""

from __future__ import annotations

import re

from workers.chunking.base import Span, Symbol
from workers.chunking.parts import Limits
from workers.chunking.sections import section_spans

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")


def _is_adornment(line: str) -> bool:
    return _ADORNMENT.match(line) is not None


def _overlined(line: str, title: str, under: str) -> bool:
    """An overline, a title and an underline that repeats the overline, as long as the title."""
    if not _is_adornment(line) or not title.strip() or _is_adornment(title):
        return False
    return under.rstrip() == line.rstrip() and len(line.rstrip()) >= len(title.rstrip())


def _underlined(line: str, under: str) -> bool:
    """A title that starts its line and an underline at least as long."""
    if not line.strip() or line[0] in " \t" or _is_adornment(line):
        return False
    return _is_adornment(under) and len(under.rstrip()) >= len(line.rstrip())


def _headers(lines: list[str]) -> list[Symbol]:
    headers: list[Symbol] = []
    padded = [*lines, "", ""]
    number = 0
    while number < len(lines):
        line, following, third = padded[number : number + 3]
        after_blank = number == 0 or not lines[number - 1].strip()
        if after_blank and _overlined(line, following, third):
            headers.append(Symbol("section", following.strip(), number + 1, number + 3, number + 2))
            number += 3
        elif after_blank and _underlined(line, following):
            headers.append(Symbol("section", line.strip(), number + 1, number + 2, number + 1))
            number += 2
        else:
            number += 1
    return headers


def chunk_rst(path: str, text: str, lines: list[str], limits: Limits) -> list[Span]:
    """Sections from each title to the line before the next one; long ones split into parts."""
    return section_spans(lines, _headers(lines), limits)
