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
    """(kind, start, end) by symbol name; a split symbol's parts as one range under its own name."""
    ranges: dict[str, tuple[str, int, int]] = {}
    for span in result.spans:
        name = span.name.split(" (part ")[0]
        kind, start, _ = ranges.get(name, (span.kind, span.start_line, span.end_line))
        ranges[name] = (kind, start, span.end_line)
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
            "SemVer": ("class", 7, 300),
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
            # A class field holding an arrow function, its JSDoc above it.
            "Immer.produce": ("method", 50, 119),
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
    lines, result = _chunk("immer-10.1.1/src/core/immerClass.ts")
    parts = [s for s in result.spans if s.name.startswith("Immer.produce (part ")]
    assert [(s.name, s.start_line, s.end_line) for s in parts] == [
        ("Immer.produce (part 1/2)", 50, 109),
        ("Immer.produce (part 2/2)", 100, 119),
    ]
    signature = "\tproduce: IProduce = (base: any, recipe?: any, patchListener?: any) => {"
    assert lines[68] == signature
    assert parts[0].content == "\n".join(lines[49:109])
    assert parts[1].content == signature + "\n" + "\n".join(lines[99:119])


def test_class_parts_overlap_and_cover_the_class() -> None:
    _, result = _chunk("semver-7.6.3/classes/semver.js")
    parts = [s for s in result.spans if s.name.startswith("SemVer (part ")]
    assert len(parts) == 6
    assert parts[0].start_line == 7 and parts[-1].end_line == 300
    for before, after in zip(parts, parts[1:], strict=False):
        assert after.start_line <= before.end_line  # they overlap
        assert after.content.startswith("class SemVer {\n")


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
