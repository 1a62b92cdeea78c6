"""The tree-sitter chunker on real JavaScript and TypeScript nobody here wrote.

tests/fixtures/npm/ holds a few source files, with their licenses, from npm packages: ms 2.1.3
and semver 7.6.3 (CommonJS, classes), immer 10.1.1 (TypeScript classes, object-literal traps),
react-hot-toast 2.4.1 (TSX components, a reducer). The symbol names and line ranges below were
read off the files by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.chunking import ChunkResult, chunk_text, measure_complexity
from workers.chunking.base import split_lines

NPM = Path(__file__).parent.parent / "fixtures" / "npm"
SOURCES = sorted(p for p in NPM.rglob("*") if p.suffix in (".js", ".ts", ".tsx"))


def _chunk(relative: str) -> tuple[list[str], ChunkResult]:
    path = NPM / relative
    text = path.read_text(encoding="utf-8")
    return split_lines(text), chunk_text(str(path), text)


def _ranges(result: ChunkResult) -> dict[str, tuple[str, int, int]]:
    """(kind, start, end) by symbol name; a split symbol's parts as one range under its own name,
    running on to the end of its last member (a class's parts leave out a method too big for one,
    and its closing `}` alone is no span)."""
    ranges: dict[str, tuple[str, int, int]] = {}
    split: set[str] = set()
    for span in result.spans:
        name, part, _ = span.name.partition(" (part ")
        kind, start, end = ranges.get(name, (span.kind, span.start_line, span.end_line))
        ranges[name] = (kind, start, max(end, span.end_line))
        if part:
            split.add(name)
    for name in split:
        kind, start, end = ranges[name]
        if kind in ("function", "method"):  # only a class-like has members
            continue
        members = [e for other, (_, _, e) in ranges.items() if other.startswith(name + ".")]
        ranges[name] = (kind, start, max([end, *members]))
    return ranges


# (file, {symbol: (kind, first line, last line)}) for symbols checked by hand; each file has more.
KNOWN: list[tuple[str, dict[str, tuple[str, int, int]]]] = [
    (
        "ms-2.1.3/index.js",
        {
            "module.exports": ("function", 26, 38),
            "parse": ("function", 48, 103),
            "fmtShort": ("function", 113, 128),
            "fmtLong": ("function", 138, 153),
            "plural": ("function", 159, 162),
        },
    ),
    (
        "semver-7.6.3/classes/semver.js",
        {
            # Split around its methods; the closing `}` (line 300) alone is no span.
            "SemVer": ("class", 7, 299),
            "SemVer.constructor": ("method", 8, 77),
            "SemVer.format": ("method", 79, 85),
            "SemVer.toString": ("method", 87, 89),
            "SemVer.compare": ("method", 91, 105),
            "SemVer.inc": ("method", 176, 299),
        },
    ),
    (
        "semver-7.6.3/classes/comparator.js",
        {
            # The comment right above the class (`// hoisted class for cyclic dependency`) is its.
            "Comparator": ("class", 2, 132),
            "Comparator.ANY": ("method", 4, 6),
            "Comparator.constructor": ("method", 8, 32),
            "Comparator.parse": ("method", 34, 53),
            "Comparator.intersects": ("method", 77, 131),
        },
    ),
    (
        "semver-7.6.3/classes/range.js",
        {
            "Range": ("class", 3, 211),
            "isNullSet": ("function", 231, 231),
            "isAny": ("function", 232, 232),
            "isSatisfiable": ("function", 234, 250),
            "replaceTilde": ("function", 285, 311),
            "testSet": ("function", 520, 554),
        },
    ),
    (
        "immer-10.1.1/src/core/immerClass.ts",
        {
            "ProducersFns": ("interface", 29, 32),
            "StrictMode": ("type", 34, 34),
            "Immer": ("class", 36, 202),
            "Immer.constructor": ("method", 40, 48),
            # A class field holding an arrow function: 51 lines, 70 with the JSDoc above it, which
            # then is a span of its own (50-68) rather than the function being cut in two.
            "Immer.produce": ("method", 69, 119),
            "comment above Immer.produce": ("code", 50, 68),
            "Immer.produceWithPatches": ("method", 121, 134),
            "Immer.createDraft": ("method", 136, 144),
            "createProxy": ("function", 204, 218),
        },
    ),
    (
        "immer-10.1.1/src/core/proxy.ts",
        {
            "objectTraps.get": ("function", 103, 122),
            "objectTraps.set": ("function", 129, 171),
            "arrayTraps.deleteProperty": ("function", 223, 228),
        },
    ),
    (
        "react-hot-toast-2.4.1/src/core/store.ts",
        {
            "ActionType": ("enum", 6, 14),
            "Action": ("type", 16, 44),
            "State": ("interface", 46, 49),
            "reducer": ("function", 78, 158),
            "dispatch": ("function", 164, 169),
            "useStore": ("function", 181, 213),
        },
    ),
    (
        "react-hot-toast-2.4.1/src/components/toaster.tsx",
        {
            "ToastWrapper": ("function", 15, 45),
            "getPositionStyle": ("function", 47, 74),
            "Toaster": ("function", 85, 141),
        },
    ),
    (
        "react-hot-toast-2.4.1/src/components/toast-bar.tsx",
        {
            "ToastBarProps": ("interface", 44, 52),
            # `React.memo(({ toast, position, style, children }) => {...})`: a wrapped component.
            "ToastBar": ("function", 72, 111),
        },
    ),
]


@pytest.mark.parametrize(("relative", "known"), KNOWN, ids=[k[0] for k in KNOWN])
def test_known_symbols_and_lines(relative: str, known: dict[str, tuple[str, int, int]]) -> None:
    _, result = _chunk(relative)
    assert result.fallback_reason is None
    ranges = _ranges(result)
    for name, expected in known.items():
        assert ranges.get(name) == expected, name


def test_a_big_method_is_split_into_parts_that_start_with_its_signature() -> None:
    lines, result = _chunk("semver-7.6.3/classes/semver.js")
    parts = [s for s in result.spans if s.name.startswith("SemVer.inc (part ")]
    assert [(s.name, s.start_line, s.end_line) for s in parts] == [
        ("SemVer.inc (part 1/3)", 176, 235),
        ("SemVer.inc (part 2/3)", 226, 284),
        ("SemVer.inc (part 3/3)", 275, 299),
    ]
    # The part starts with the two comment lines above the method; later ones with its signature.
    signature = "  inc (release, identifier, identifierBase) {"
    assert lines[177] == signature
    assert parts[0].content == "\n".join(lines[175:235])
    assert parts[1].content == signature + "\n" + "\n".join(lines[225:284])
    assert parts[2].content == signature + "\n" + "\n".join(lines[274:299])


def test_a_method_that_fits_without_its_doc_comment_is_not_cut() -> None:
    lines, result = _chunk("immer-10.1.1/src/core/immerClass.ts")
    spans = {s.name: s for s in result.spans if "produce" in s.name}
    assert [(s.kind, s.start_line, s.end_line) for s in spans.values()][:2] == [("code", 50, 68), ("method", 69, 119)]
    assert spans["comment above Immer.produce"].content == "\n".join(lines[49:68])
    assert spans["Immer.produce"].content.startswith("\tproduce: IProduce = (base: any, recipe?: any")


def test_class_parts_break_between_methods_and_with_them_cover_the_class() -> None:
    lines, result = _chunk("semver-7.6.3/classes/semver.js")
    parts = [s for s in result.spans if s.name.startswith("SemVer (part ")]
    # The constructor (8-77) and inc (176-299) are too big for one span: their own parts hold them.
    assert [(s.start_line, s.end_line) for s in parts] == [(7, 7), (78, 118), (118, 175)]
    assert all(s.content.startswith("class SemVer {\n") for s in parts[1:])
    methods = [extent for name, extent in _ranges(result).items() if name.startswith("SemVer.")]
    assert len(methods) == 8
    for part in parts:
        for _, first, last in methods:
            assert last < part.start_line or first > part.end_line or part.start_line <= first <= last <= part.end_line
    covered = {n for _, first, last in methods for n in range(first, last + 1)}
    covered |= {n for s in parts for n in range(s.start_line, s.end_line + 1)}
    assert {n for n in range(7, 301) if lines[n - 1].strip() not in ("", "}")} <= covered


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(NPM)) for p in SOURCES])
def test_every_fixture_parses_and_is_measured(path: Path) -> None:
    result = chunk_text(str(path), path.read_text(encoding="utf-8"))
    assert result.fallback_reason is None
    assert any(span.kind in ("function", "method", "class") for span in result.spans)
    for span in result.spans:
        figures = measure_complexity(span, result.language)
        assert figures.lines == span.end_line - span.start_line + 1


def test_figures_of_real_functions() -> None:
    _, result = _chunk("ms-2.1.3/index.js")
    spans = {s.name: s for s in result.spans}
    # `options || {}`, if / else-if with an && each, the ternary: an else-if is no deeper than its if.
    exported = measure_complexity(spans["module.exports"], "javascript")
    assert (exported.parameters, exported.nesting_depth, exported.branches) == (2, 1, 6)
    plural = measure_complexity(spans["plural"], "javascript")
    assert (plural.parameters, plural.nesting_depth, plural.branches, plural.nested_defs) == (4, 0, 1, 0)
