"""Whether a chunk respects the file's definitions: one rule, applied alike to every splitter.

The definitions come from a parser independent of the splitters: for Python the standard
library's `ast` (every def and class at the top of the module, and, recursively, those directly
in a class body; a definition's lines run from its first decorator to `end_lineno`); for
JavaScript acorn (tests/fixtures/acorn_outline.cjs: functions, classes, methods and
function-valued declarators, assignments, properties and fields that are not inside a function,
module wrappers such as UMD's factory aside). Comments above a definition are not part of it,
so a chunk may start or end anywhere among them.

A chunk is the lines it covers (first to last) and whether it starts or ends in the middle of a
line (ignoring indentation and trailing whitespace). Each of its two edges is a cut between two
lines. A cut is *clean* when

* it is at the edge of a definition: right before a definition's first line or right after its
  last, blank and comment lines between the cut and that edge aside; or
* no definition that fits the size budget contains it: it falls in module code between
  definitions, or inside a definition too big for one chunk (and inside no smaller one that fits).

A chunk is *aligned* when both its cuts are clean and neither falls in the middle of a line,
unless that line is itself longer than the budget (then no splitter could do better). So a chunk
may hold several whole definitions and the code between them, a whole class, one method of it,
one part of an oversized function, or module code; it may not end inside a definition that would
have fitted, nor start halfway through one.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass

# (first line, last line) of one definition, 1-based and inclusive.
Definition = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Chunk:
    """The lines a chunk covers, and whether its first or last line is cut in the middle."""

    start_line: int
    end_line: int
    cut_start: bool = False
    cut_end: bool = False


def python_definitions(text: str) -> list[Definition] | None:
    """Top-level and class-level defs and classes per `ast`, or None when ast cannot parse the text."""
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found: list[Definition] = []
    bodies = [module.body]
    while bodies:
        for node in bodies.pop():
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                found.append((first, node.end_lineno or node.lineno))
                if isinstance(node, ast.ClassDef):
                    bodies.append(node.body)
    return sorted(found)


class LineIndex:
    """Character offsets to line numbers, and each line's length, for one file."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                self.starts.append(index + 1)
        self.lengths = [len(line) for line in text.split("\n")]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def chunk_at(self, offset: int, length: int) -> Chunk:
        """The chunk whose text is text[offset:offset + length]."""
        end = offset + max(length, 1) - 1
        first, last = self.line_of(offset), self.line_of(end)
        before = self.text[self.starts[first - 1] : offset]
        after_end = self.starts[last] - 1 if last < len(self.starts) else len(self.text)
        after = self.text[end + 1 : after_end]
        return Chunk(first, last, cut_start=bool(before.strip()), cut_end=bool(after.strip()))


def chars_of(index: LineIndex, definition: Definition) -> int:
    """A definition's size as a splitter measures it: its lines joined with newlines."""
    first, last = definition
    return sum(index.lengths[first - 1 : last]) + last - first


class Outline:
    """One file's definitions, ready to judge the cuts of its chunks."""

    def __init__(self, definitions: list[Definition], index: LineIndex, budget_chars: int, comments: tuple[str, ...]):
        self.index = index
        self.budget_chars = budget_chars
        self.firsts = {first for first, _ in definitions}
        self.lasts = {last for _, last in definitions}
        # Only definitions that fit the budget forbid a cut inside them.
        self.fitting = [d for d in definitions if chars_of(index, d) <= budget_chars]
        lines = index.text.split("\n")
        self.skippable = [not line.strip() or line.lstrip().startswith(comments) for line in lines]

    def at_edge(self, cut: int) -> bool:
        """Whether the cut after line `cut` is at a definition's edge, blank and comment lines aside."""
        below = cut + 1
        while below - 1 < len(self.skippable) and below not in self.firsts and self.skippable[below - 1]:
            below += 1
        if below in self.firsts or below > len(self.skippable):
            return True
        above = cut
        while above >= 1 and above not in self.lasts and self.skippable[above - 1]:
            above -= 1
        return above in self.lasts or above == 0

    def is_clean(self, cut: int) -> bool:
        """The cut between line `cut` and line `cut + 1` (0: before the file's first line)."""
        if self.at_edge(cut):
            return True
        return not any(first <= cut and cut + 1 <= last for first, last in self.fitting)

    def is_aligned(self, chunk: Chunk) -> bool:
        """The rule in the module docstring."""
        lengths = self.index.lengths
        if chunk.cut_start and lengths[chunk.start_line - 1] <= self.budget_chars:
            return False
        if chunk.cut_end and lengths[chunk.end_line - 1] <= self.budget_chars:
            return False
        return self.is_clean(chunk.start_line - 1) and self.is_clean(chunk.end_line)
