"""The JavaScript chunker's span boundaries against an independent parser: acorn, run by node.

acorn 8.19.0 (tests/fixtures/npm/acorn-8.19.0, MIT) is both a parser and real code nobody here
wrote (a 6,000-line UMD bundle); tests/fixtures/acorn_outline.cjs lists the definitions it finds
in a file with their lines. For every JavaScript fixture:

* every function, method and class span (a split symbol's parts taken together) is a definition
  acorn found, by name, ending on the same line and starting on the same line or above it with
  only its comment block between;
* every function and class acorn finds at the top of the program (or of a module wrapper such as
  UMD's factory), and every method of such a class, has its span.

TypeScript and TSX are not acorn's: test_treesitter_npm.py checks those by hand-read lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from workers.chunking import ChunkResult, chunk_text
from workers.chunking.base import split_lines

FIXTURES = Path(__file__).parent.parent / "fixtures"
OUTLINE = FIXTURES / "acorn_outline.cjs"
SOURCES = sorted(p for p in (FIXTURES / "npm").rglob("*") if p.suffix in (".js", ".cjs", ".mjs"))
DEFINITION_KINDS = frozenset({"function", "method", "class"})
PUNCTUATION = re.compile(r"^[\s{}\[\](),;:.\-]*$")
# (type, name, ranges, top, nested): see acorn_outline.cjs.
Definition = tuple[str, str, list[list[int]], bool, bool]


def acorn_outline(paths: list[Path]) -> dict[str, list[Definition]]:
    """acorn's definitions per file (by str(path)); node missing skips, or fails under CI."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the acorn boundary tests")
        pytest.skip("node is not installed")
    done = subprocess.run(
        [node, str(OUTLINE)], input=json.dumps([str(p) for p in paths]), capture_output=True, text=True, check=True
    )
    outlines = json.loads(done.stdout)
    errors = {path: entry["error"] for path, entry in outlines.items() if "error" in entry}
    assert not errors, errors
    return {path: [tuple(d) for d in entry["defs"]] for path, entry in outlines.items()}


@pytest.fixture(scope="module")
def outlines() -> dict[str, list[Definition]]:
    return acorn_outline(SOURCES)


def symbol_ranges(result: ChunkResult) -> dict[tuple[str, int], tuple[str, int, int]]:
    """(name, first line) -> (kind, first line, last line) of every definition span, parts joined."""
    ranges: dict[tuple[str, int], tuple[str, int, int]] = {}
    open_parts: dict[str, tuple[str, int]] = {}
    for span in result.spans:
        if span.kind not in DEFINITION_KINDS:
            continue
        name, _, part = span.name.partition(" (part ")
        if part.startswith("1/"):
            open_parts[name] = (span.kind, span.start_line)
        start = open_parts[name][1] if part else span.start_line
        if not part or part.split("/")[0] == part.split("/")[1].rstrip(")"):
            ranges[(name, start)] = (span.kind, start, span.end_line)
    # A class's parts leave out a method too big for one: the class runs on to its last member's end.
    for (name, start), (kind, _, end) in ranges.items():
        if name not in open_parts or kind != "class":
            continue
        members = [last for (other, _), (_, _, last) in ranges.items() if other.startswith(name + ".")]
        ranges[(name, start)] = (kind, start, max([end, *members]))
    return ranges


def same_name(ours: str, theirs: str) -> bool:
    """Ours is qualified by its owner (`SemVer.format`, `traps.get`); acorn's is the plain name."""
    return ours == theirs or ours.endswith("." + theirs)


def only_comments(lines: list[str], first: int, last: int) -> bool:
    return all(lines[n - 1].lstrip().startswith(("//", "/*", "*")) for n in range(first, last + 1))


def ends_alike(lines: list[str], ours: int, theirs: int) -> bool:
    """Same last line, or ours stops before a run of closing brackets (a split class's `}` is no span)."""
    return ours == theirs or (ours < theirs and all(PUNCTUATION.match(line) for line in lines[ours:theirs]))


def matches(lines: list[str], ours: tuple[str, int, int], name: str, definition: Definition) -> bool:
    _, start, end = ours
    _, theirs, ranges, _, _ = definition
    return same_name(name, theirs) and any(
        ends_alike(lines, end, last) and start <= first and only_comments(lines, start, first - 1)
        for first, last in ranges
    )


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(FIXTURES)) for p in SOURCES])
def test_definition_spans_are_definitions_acorn_finds(path: Path, outlines: dict[str, list[Definition]]) -> None:
    text = path.read_text(encoding="utf-8")
    lines, result = split_lines(text), chunk_text(str(path), text)
    assert result.fallback_reason is None
    definitions = outlines[str(path)]
    ours = symbol_ranges(result)
    assert ours
    for (name, _), symbol in ours.items():
        assert any(matches(lines, symbol, name, d) for d in definitions), (name, symbol)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(FIXTURES)) for p in SOURCES])
def test_every_top_level_definition_acorn_finds_has_its_span(path: Path, outlines: dict[str, list[Definition]]) -> None:
    text = path.read_text(encoding="utf-8")
    lines, result = split_lines(text), chunk_text(str(path), text)
    ours = symbol_ranges(result)
    top = [d for d in outlines[str(path)] if d[3]]
    assert top
    for definition in top:
        assert any(matches(lines, symbol, name, definition) for (name, _), symbol in ours.items()), definition
