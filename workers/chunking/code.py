"""The tree-sitter chunker for code: one span per definition, the code between them as `code` spans.

Kinds: function, method (a function in a class-like), class, struct, union, interface, enum,
trait, impl, object, protocol, extension, record, module (Ruby modules, Rust `mod`, TS
namespaces), type (Go types other than structs and interfaces, TS type aliases) and macro (Rust
`macro_rules!`). A class-like span holds its members, which also get spans of their own, as the
Python chunker does with classes and methods. C++, C# and PHP namespaces are not spans: what they
hold is (they are the package, like a Python module's dotted path).

A syntax error sends the whole file to windows, except in languages whose rules tolerate errors
(C and C++, where the grammar sees macros unexpanded and most "errors" are valid code): there the
definitions with no error in them are kept as they are, the damaged regions (symbols.py,
find_clean_symbols) become windows, the rest is `code` spans as usual, and the reason says how
much was windowed.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from tree_sitter import Tree

from workers.chunking.base import ChunkError, PartialSpans, Span, Symbol, is_blank, make_span, trim_blank_edges
from workers.chunking.parts import Limits, code_spans, is_punctuation, pack_ranges, spans_of_symbols
from workers.chunking.rules import RULES, Rules
from workers.chunking.symbols import find_clean_symbols, find_symbols
from workers.chunking.treesitter import first_error_line, parse, source_of

# A .h file is claimed by C, but as often holds C++: when C cannot parse it, C++ gets a try.
_BY_SUFFIX: dict[str, tuple[str, ...]] = {".tsx": ("tsx",), ".h": ("c", "cpp")}


def grammars_for(language: str, path: str) -> tuple[str, ...]:
    """The grammars to parse a file with, in order: the first one without a syntax error wins."""
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    return _BY_SUFFIX.get(suffix, RULES[language].grammars)


def encode(lines: list[str]) -> bytes:
    """The file as tree-sitter reads it, or ChunkError when it cannot be UTF-8 (lone surrogates)."""
    try:
        return source_of(lines)
    except UnicodeEncodeError as exc:
        raise ChunkError(f"text cannot be encoded as UTF-8 at character {exc.start}: {exc.reason}") from exc


def parse_clean(language: str, grammars: tuple[str, ...], source: bytes) -> tuple[Tree, str]:
    """The first tree without a syntax error and its grammar; ChunkError naming the first grammar's
    first error."""
    first: Tree | None = None
    for name in grammars:
        tree = parse(name, source)
        if not tree.root_node.has_error:
            return tree, name
        first = first or tree
    line = first_error_line(first.root_node) if first is not None else 1
    raise ChunkError(f"{language} syntax error at line {line}")


def rules_for(language: str, grammar: str) -> Rules:
    """The rules a tree is read with: a .h read as C++ has C++'s definitions (classes, templates)."""
    return RULES["cpp" if grammar == "cpp" else language]


def chunk_code(language: str, path: str, lines: list[str], limits: Limits) -> list[Span] | PartialSpans:
    """Spans of a file in a tree-sitter language (see rules.RULES); on a syntax error, PartialSpans
    where the language tolerates errors (the grammar with the fewest lines windowed), else ChunkError."""
    source = encode(lines)
    broken: list[tuple[Tree, Rules]] = []
    for grammar in grammars_for(language, path):
        tree = parse(grammar, source)
        rules = rules_for(language, grammar)
        if not tree.root_node.has_error:
            return _spans(lines, find_symbols(tree.root_node, rules), [], limits)
        broken.append((tree, rules))
    reason = f"{language} syntax error at line {first_error_line(broken[0][0].root_node)}"
    best: tuple[int, list[Symbol], list[tuple[int, int]], Tree] | None = None
    for tree, rules in broken:
        if not rules.tolerate_errors:
            continue
        symbols, damaged = find_clean_symbols(tree.root_node, rules)
        runs = damaged_runs(damaged, symbols)
        windowed = sum(end - start + 1 for start, end in runs)
        if best is None or windowed < best[0]:
            best = (windowed, symbols, runs, tree)
    if best is None:
        raise ChunkError(reason)
    windowed, symbols, runs, tree = best
    reason = (
        f"{language} syntax error at line {first_error_line(tree.root_node)}: partial, {windowed} of "
        f"{len(lines)} lines in {len(runs)} damaged regions windowed, {len(symbols)} definitions kept"
    )
    return PartialSpans(_spans(lines, symbols, runs, limits), reason)


def damaged_runs(damaged: list[tuple[int, int]], symbols: list[Symbol]) -> list[tuple[int, int]]:
    """Runs of consecutive damaged lines that no kept definition covers, in file order."""
    covered = {line for s in symbols for line in range(s.start_line, s.end_line + 1)}
    bad = sorted({line for start, end in damaged for line in range(start, end + 1)} - covered)
    runs: list[tuple[int, int]] = []
    for line in bad:
        if runs and runs[-1][1] == line - 1:
            runs[-1] = (runs[-1][0], line)
        else:
            runs.append((line, line))
    return runs


def _spans(lines: list[str], symbols: list[Symbol], damaged: list[tuple[int, int]], limits: Limits) -> list[Span]:
    spans = spans_of_symbols(lines, symbols, limits)
    spans.extend(_damaged_windows(lines, damaged, limits))
    spans.extend(code_spans(lines, [*((s.start_line, s.end_line) for s in symbols), *damaged], limits))
    return spans


def _damaged_windows(lines: list[str], runs: list[tuple[int, int]], limits: Limits) -> list[Span]:
    """Overlapping `lines A-B` windows over each damaged run, as a whole-file fallback would make."""
    spans: list[Span] = []
    for run in runs:
        trimmed = trim_blank_edges(lines, *run)
        if trimmed is None or is_punctuation(lines, *trimmed):
            continue
        for start, end in pack_ranges(lines, *trimmed, limits, overlap_lines=limits.overlap_lines):
            if not is_blank(lines, start, end):
                spans.append(make_span("window", f"lines {start}-{end}", lines, start, end))
    return spans
